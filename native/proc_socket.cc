#include "proc_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <initializer_list>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace forkwatch {

namespace {

// Defined here rather than taken from <linux/cn_proc.h>: the installed headers can be
// older than the running kernel, and in C++ their enum constants are scoped.
constexpr uint32_t kCnIdxProc = 1;
constexpr uint32_t kCnValProc = 1;

// Large enough for any proc connector datagram (76 bytes); anything longer is
// truncated, flagged, and rejected by the decoder.
constexpr size_t kDatagramMax = 256;
constexpr unsigned kBatch = 64;
constexpr size_t kCommMax = 64;  // /proc/<pid>/comm: 15 bytes and a newline, read generously
// /proc/<pid>/cgroup: one line per hierarchy, about 2 KiB for a container on a cgroup v1
// host. A longer file is not passed on (JavaScript reads it itself when it needs it), nor
// are names past a batch's budget: an exec storm's batches stay the size of a fork storm's.
constexpr size_t kCgroupMax = 4096;
constexpr size_t kCgroupBudget = 40 * 1024;  // what a 64 KiB chunk holds beyond the rest

constexpr size_t padded(size_t length) { return (length + 3) & ~size_t{3}; }

void append_u32(std::vector<uint8_t>& out, uint32_t v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + 4);
}

void append_padded(std::vector<uint8_t>& out, const uint8_t* bytes, size_t length) {
  out.insert(out.end(), bytes, bytes + length);
  out.resize(padded(out.size()), 0);
}

// The record format, read by src/kernel/records.ts: u32 length, u32 sender port id,
// u32 flags, the datagram padded to 4; with kRecordHasProcComm, then u32 length and
// /proc/<tgid>/comm as read on arrival, padded to 4; with kRecordHasProcCgroup, then u32
// length and /proc/<tgid>/cgroup likewise. Host byte order.
constexpr uint32_t kRecordTruncated = 1;
constexpr uint32_t kRecordHasProcComm = 2;
constexpr uint32_t kRecordHasProcCgroup = 4;

// A file's bytes as read on arrival; length -1 when it was not read.
struct ProcFile {
  const uint8_t* bytes;
  ssize_t length;
};

void append_record(std::vector<uint8_t>& out, const uint8_t* datagram, uint32_t length,
                   uint32_t sender_port, bool truncated, ProcFile comm, ProcFile cgroup) {
  append_u32(out, length);
  append_u32(out, sender_port);
  append_u32(out, (truncated ? kRecordTruncated : 0) | (comm.length >= 0 ? kRecordHasProcComm : 0) |
                      (cgroup.length >= 0 ? kRecordHasProcCgroup : 0));
  append_padded(out, datagram, length);
  for (const ProcFile* file : {&comm, &cgroup}) {
    if (file->length < 0) continue;
    append_u32(out, static_cast<uint32_t>(file->length));
    append_padded(out, file->bytes, static_cast<size_t>(file->length));
  }
}

uint32_t read_u32(const uint8_t* at) {
  uint32_t v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

// Reads /proc/<pid>/<file> into `into` with one read; returns the bytes read, or -1 if the
// process is gone.
ssize_t read_proc_file(uint32_t pid, const char* file, uint8_t* into, size_t size) {
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%u/%s", pid, file);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t got;
  do {
    got = ::read(fd, into, size);
  } while (got < 0 && errno == EINTR);
  ::close(fd);
  return got;
}

// A control request: nlmsghdr, cn_msg, then the u32 op (the 4-byte form, which
// subscribes to every type).
using ControlRequest = uint8_t[NLMSG_HDRLEN + sizeof(cn_msg) + sizeof(uint32_t)];

void build_control(uint32_t op, uint32_t ack, ControlRequest& request) {
  std::memset(request, 0, sizeof request);
  auto* nl = reinterpret_cast<nlmsghdr*>(request);
  auto* cn = reinterpret_cast<cn_msg*>(request + NLMSG_HDRLEN);
  nl->nlmsg_len = sizeof request;
  nl->nlmsg_type = NLMSG_DONE;
  cn->id.idx = kCnIdxProc;
  cn->id.val = kCnValProc;
  cn->ack = ack;
  cn->len = sizeof op;
  std::memcpy(cn->data, &op, sizeof op);
}

// To the kernel (port 0, no groups): sent to the group address, a privileged sender's
// request would reach every listener instead. Async-signal-safe.
ssize_t send_to_kernel(int fd, const ControlRequest& request) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  return ::sendto(fd, request, sizeof request, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
}

// ArmAbortIgnore's sockets, as fd + 1 (0: a free slot). A handful of connectors at most.
std::atomic<int> abort_armed[16];
ControlRequest abort_ignore;
struct sigaction abort_previous;
std::once_flag abort_installed;

void on_abort(int signal) {
  for (auto& slot : abort_armed) {
    const int stored = slot.exchange(0);
    if (stored > 0) send_to_kernel(stored - 1, abort_ignore);
  }
  // The handler before ours takes the signal, raised again: it is blocked until this
  // handler returns, and then (by default) ends the process.
  ::sigaction(signal, &abort_previous, nullptr);
  ::raise(signal);
}

}  // namespace

const size_t ProcSocket::kMaxBatchBytes =
    kBatch * (12 + padded(kDatagramMax) + 4 + padded(kCommMax) + 4) + kCgroupBudget;

void ArmAbortIgnore(int fd) {
  std::call_once(abort_installed, [] {
    build_control(kMcastIgnore, 0, abort_ignore);
    struct sigaction action {};
    action.sa_handler = on_abort;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGABRT, &action, &abort_previous);
  });
  for (auto& slot : abort_armed) {
    int free = 0;
    if (slot.compare_exchange_strong(free, fd + 1)) return;
  }
  // Every slot taken: this socket goes without the last resort; the normal paths remain.
}

void DisarmAbortIgnore(int fd) {
  for (auto& slot : abort_armed) {
    int mine = fd + 1;
    if (slot.compare_exchange_strong(mine, 0)) return;
  }
}

void Fd::reset(int fd) {
  // The fd is released even when close() reports an error; retrying would be wrong.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

ProcSocket::ProcSocket(int receive_buffer_bytes, const ExecProbe& exec)
    : fd_(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR)), exec_(exec) {
  const int fd = fd_.get();
  if (fd < 0) throw SysError{"socket", errno};

  // SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; without it, the
  // kernel caps SO_RCVBUF at rmem_max. Either way receive_buffer_bytes() says what we got.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer_bytes,
                   sizeof receive_buffer_bytes) == 0) {
    buffer_forced_ = true;
  } else if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
                          sizeof receive_buffer_bytes) != 0) {
    throw SysError{"setsockopt(SO_RCVBUF)", errno};
  }

  // On overflow the kernel then only drops (and counts the drop); without this, the next
  // recv fails with ENOBUFS. Loss is measured from sequence gaps either way.
  const int on = 1;
  if (::setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &on, sizeof on) != 0) {
    throw SysError{"setsockopt(NETLINK_NO_ENOBUFS)", errno};
  }

  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = kCnIdxProc;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw SysError{"bind", errno};
  }
}

void ProcSocket::send_control(uint32_t op, uint32_t ack) const {
  ControlRequest request;
  build_control(op, ack, request);
  for (;;) {
    if (send_to_kernel(fd_.get(), request) >= 0) return;
    if (errno != EINTR) throw SysError{"sendto", errno};
  }
}

size_t ProcSocket::read_batch(std::vector<uint8_t>& out) const {
  uint8_t buffers[kBatch][kDatagramMax];
  iovec iov[kBatch];
  sockaddr_nl senders[kBatch];
  mmsghdr msgs[kBatch];
  for (unsigned i = 0; i < kBatch; i++) {
    iov[i] = {buffers[i], kDatagramMax};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_name = &senders[i];
    msgs[i].msg_hdr.msg_namelen = sizeof senders[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  int n;
  do {
    n = ::recvmmsg(fd_.get(), msgs, kBatch, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    // ENOBUFS cannot happen with NETLINK_NO_ENOBUFS, but if a kernel reports it anyway
    // the lost events show as sequence gaps: keep reading.
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return 0;
    throw SysError{"recvmmsg", errno};
  }

  size_t cgroup_budget = kCgroupBudget;
  for (int i = 0; i < n; i++) {
    const uint8_t* datagram = buffers[i];
    const uint32_t length = msgs[i].msg_len < kDatagramMax ? msgs[i].msg_len : kDatagramMax;
    const bool truncated = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;

    // A process that exec'd may exit before JavaScript asks for its new name, or for the
    // cgroup a container runtime moved it into before the exec: read them now, while
    // this thread is microseconds behind the kernel. JavaScript still validates the
    // datagram; this only looks at what it would be.
    uint8_t comm[kCommMax];
    uint8_t cgroup[kCgroupMax];
    ProcFile comm_file{comm, -1};
    ProcFile cgroup_file{cgroup, -1};
    if (senders[i].nl_pid == 0 && length >= exec_.min_length &&
        read_u32(datagram + exec_.what_offset) == exec_.what) {
      const uint32_t tgid = read_u32(datagram + exec_.tgid_offset);
      comm_file.length = read_proc_file(tgid, "comm", comm, sizeof comm);
      if (comm_file.length >= 0) {
        const ssize_t got = read_proc_file(tgid, "cgroup", cgroup, sizeof cgroup);
        // Cut at the buffer's end, or past the batch's budget: not passed on.
        if (got >= 0 && static_cast<size_t>(got) < sizeof cgroup && padded(static_cast<size_t>(got)) <= cgroup_budget) {
          cgroup_file.length = got;
          cgroup_budget -= padded(static_cast<size_t>(got));
        }
      }
    }
    append_record(out, datagram, length, senders[i].nl_pid, truncated, comm_file, cgroup_file);
  }
  return static_cast<size_t>(n);
}

int ProcSocket::receive_buffer_bytes() const {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &value, &len) != 0) {
    throw SysError{"getsockopt(SO_RCVBUF)", errno};
  }
  return value;
}

uint32_t ProcSocket::kernel_drops() const {
  uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof meminfo;
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_MEMINFO, meminfo, &len) != 0) {
    throw SysError{"getsockopt(SO_MEMINFO)", errno};
  }
  return meminfo[SK_MEMINFO_DROPS];
}

}  // namespace forkwatch
