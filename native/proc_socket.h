// The proc connector's netlink socket, as plain POSIX calls: no Node-API here, so the
// reader thread can use it without touching JavaScript.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace forkwatch {

// proc connector control operations (enum proc_cn_mcast_op).
constexpr uint32_t kMcastListen = 1;
constexpr uint32_t kMcastIgnore = 2;

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

// Where an EXEC event says what it is and whose it is. JavaScript owns the event layout
// (src/kernel/decode.ts) and hands these over, so the reader can read the new name.
struct ExecProbe {
  size_t min_length;
  size_t what_offset;
  uint32_t what;
  size_t tgid_offset;
};

class ProcSocket {
 public:
  // The most bytes one read_batch() appends: every datagram of a batch at its largest,
  // with a name read from /proc, and the cgroup files of as many as the budget holds.
  static const size_t kMaxBatchBytes;

  // Opens a NETLINK_CONNECTOR socket, sizes its receive buffer and binds it to the
  // CN_IDX_PROC group. Throws SysError.
  ProcSocket(int receive_buffer_bytes, const ExecProbe& exec);

  // Sends a proc connector control message (PROC_CN_MCAST_LISTEN or _IGNORE) to the
  // kernel, with `ack` in cn_msg.ack so that the acknowledgement can be told apart.
  void send_control(uint32_t op, uint32_t ack) const;

  // Reads up to one batch of queued datagrams (recvmmsg), without blocking, and appends
  // each to `out` as a record (the format: append_record in proc_socket.cc).
  // Returns how many were read: 0 when none was queued. Throws SysError, and
  // std::bad_alloc if `out` must grow past its capacity and cannot.
  size_t read_batch(std::vector<uint8_t>& out) const;

  int fd() const { return fd_.get(); }
  bool buffer_forced() const { return buffer_forced_; }
  int receive_buffer_bytes() const;  // as the kernel granted it (SO_RCVBUF)
  uint32_t kernel_drops() const;     // SO_MEMINFO's SK_MEMINFO_DROPS

 private:
  Fd fd_;
  ExecProbe exec_;
  bool buffer_forced_ = false;
};

// The last resort for a process that aborts (std::terminate, a failed assertion, V8
// running out of heap, an AddressSanitizer report with abort_on_error): a SIGABRT handler
// that sends PROC_CN_MCAST_IGNORE on every armed socket before the abort goes on, since
// no destructor or exit handler runs then. Armed while a socket is subscribed.
void ArmAbortIgnore(int fd);
void DisarmAbortIgnore(int fd);

}  // namespace forkwatch
