// The proc connector's netlink socket, as plain POSIX calls: no Node-API here, so the
// reader thread can use it without touching JavaScript.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace forkwatch {

// A failed system call: which call, and errno.
struct SysError {
  const char* syscall;
  int err;
};

// Owns one file descriptor and closes it once.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1);  // closes the one held, then holds fd

 private:
  int fd_ = -1;
};

class ProcSocket {
 public:
  // Opens a NETLINK_CONNECTOR socket, sizes its receive buffer and binds it to the
  // CN_IDX_PROC group. Throws SysError.
  explicit ProcSocket(int receive_buffer_bytes);

  // Sends a proc connector control message (PROC_CN_MCAST_LISTEN or _IGNORE) to the
  // kernel, with `ack` in cn_msg.ack so that the acknowledgement can be told apart.
  void send_control(uint32_t op, uint32_t ack) const;

  // Reads up to one batch of queued datagrams (recvmmsg), without blocking, and appends
  // each to `out` as a record: u32 length, u32 sender port id, u32 flags (1 = truncated,
  // 2 = has comm), the bytes padded to 4; with flag 2 (EXEC events), then u32 length and
  // the contents of /proc/<tgid>/comm read on arrival, padded to 4.
  // Returns how many were read: 0 when none was queued. Throws SysError.
  size_t read_batch(std::vector<uint8_t>& out) const;

  int fd() const { return fd_.get(); }
  bool buffer_forced() const { return buffer_forced_; }
  int receive_buffer_bytes() const;  // as the kernel granted it (SO_RCVBUF)
  uint32_t kernel_drops() const;     // SO_MEMINFO's SK_MEMINFO_DROPS

 private:
  Fd fd_;
  bool buffer_forced_ = false;
};

}  // namespace forkwatch
