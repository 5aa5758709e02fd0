// The JavaScript face of the proc connector socket: a reader thread that drains the socket
// whatever the JavaScript thread is doing and queues what it read, and a hand-over from
// which JavaScript takes one slice at a time (src/kernel/binding.ts decides when, and
// yields to the event loop between slices). Every decision (decoding, validation, loss,
// what a failure means) is made in TypeScript.
//
// No C++ exception leaves this file: on the JavaScript thread node-addon-api turns any
// (NODE_ADDON_API_CPP_EXCEPTIONS_ALL) into a JavaScript exception, and the reader thread
// catches everything and reports it as its failure.
#include <napi.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#include "fault.h"
#include "pending.h"
#include "proc_socket.h"

namespace forkwatch {
namespace {

constexpr std::chrono::microseconds kGather{1000};
constexpr std::chrono::seconds kTouchTimeout{1};

Napi::Error ErrnoError(Napi::Env env, const SysError& e) {
  const char* name = strerrorname_np(e.err);
  const std::string code = name ? name : "E" + std::to_string(e.err);
  auto error = Napi::Error::New(env, code + ": " + std::strerror(e.err) + ", " + e.syscall);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, -e.err));  // negative, as Node's own errors
  error.Set("syscall", Napi::String::New(env, e.syscall));
  return error;
}

// Starts a thread; a failure (EAGAIN when the process or PID limit is reached) becomes
// the SysError of pthread_create.
template <typename F>
std::thread StartThread(const char* fault_point, F run) {
  try {
    if (Fault(fault_point)) throw std::system_error(EAGAIN, std::generic_category(), "injected");
    return std::thread(run);
  } catch (const std::system_error& e) {
    throw SysError{"pthread_create", e.code().value()};
  }
}

// Why the reader thread stopped, kept without allocating: it may be out of memory.
struct ReaderFailure {
  SysError error{};            // error.syscall null: see `what`
  std::array<char, 160> what{};

  static ReaderFailure Of(const SysError& e) { return {e, {}}; }
  static ReaderFailure Of(const char* what) {
    ReaderFailure failure;
    std::snprintf(failure.what.data(), failure.what.size(), "%s", what);
    return failure;
  }
  Napi::Error ToError(Napi::Env env) const {
    if (error.syscall) return ErrnoError(env, error);
    return Napi::Error::New(env, what.data());
  }
};

// What the reader thread shares with JavaScript. Owned by the thread-safe function (freed
// by its finalizer), so that a call still queued when the connector goes is safe.
struct Handover {
  Handover(size_t chunk_bytes, size_t max_bytes) : pending(chunk_bytes, max_bytes) {}

  std::mutex mutex;
  PendingQueue pending;
  double reader_drops = 0;  // datagrams read but not queued: the bound was reached
  bool failed = false;
  bool failure_reported = false;
  ReaderFailure failure;

  static void CallJs(Napi::Env env, Napi::Function on_ready, Handover* handover, void*);
  using Notifier = Napi::TypedThreadSafeFunction<Handover, void, &Handover::CallJs>;
  Notifier notifier;
};

// Tells JavaScript that records are waiting, as onReady(), or that the reader stopped, as
// onReady(error), once. An exception thrown by onReady goes on to Node as an uncaught
// exception (node-addon-api rethrows it there): it is never swallowed.
void Handover::CallJs(Napi::Env env, Napi::Function on_ready, Handover* handover, void*) {
  if (env == nullptr) return;  // the environment is going away
  bool report;
  ReaderFailure failure;
  {
    std::lock_guard<std::mutex> lock(handover->mutex);
    report = handover->failed && !handover->failure_reported;
    handover->failure_reported = handover->failed;
    failure = handover->failure;
  }
  if (report) {
    on_ready.Call({failure.ToError(env).Value()});
  } else {
    on_ready.Call({});
  }
}

// A thread that, on request, runs on each CPU in turn and renames itself there: each
// rename is a COMM event sent from that CPU, which gives the CPU's sequence numbers a
// starting point. It lives as long as the connector, so that a request never needs a new
// thread: under a fork bomb none may be left, and that is when events are lost.
class CpuToucher {
 public:
  CpuToucher() : thread_(StartThread("touch-thread", [this] { Run(); })) {}
  CpuToucher(const CpuToucher&) = delete;
  CpuToucher& operator=(const CpuToucher&) = delete;
  ~CpuToucher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  // Touches every CPU this process may run on (all configured CPUs are tried: a thread
  // may run outside the affinity it inherited); false if that took longer than `timeout`.
  bool Touch(std::chrono::milliseconds timeout, std::vector<int>& cpus) {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t request = ++requested_;
    wake_.notify_all();
    if (!wake_.wait_for(lock, timeout, [&] { return done_ >= request; })) return false;
    cpus.assign(touched_.begin(), touched_.begin() + touched_count_);
    return true;
  }

 private:
  // Named by its first touch: a name set here would be one more COMM event, at a moment
  // nobody chose.
  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || requested_ > done_; });
      if (stopping_) return;
      const uint64_t serving = requested_;
      lock.unlock();
      std::array<int, CPU_SETSIZE> touched;
      size_t count = 0;
      const int configured = ::get_nprocs_conf();
      for (int cpu = 0; cpu < configured && cpu < CPU_SETSIZE; cpu++) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        // Fails for a CPU that is offline or outside this process's cpuset.
        if (::pthread_setaffinity_np(::pthread_self(), sizeof one, &one) != 0) continue;
        ::prctl(PR_SET_NAME, "fw-cpu-touch");
        touched[count++] = cpu;
      }
      lock.lock();
      touched_ = touched;
      touched_count_ = count;
      done_ = serving;
      wake_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  uint64_t requested_ = 0;
  uint64_t done_ = 0;
  bool stopping_ = false;
  std::array<int, CPU_SETSIZE> touched_{};
  size_t touched_count_ = 0;
  std::thread thread_;  // last: started once everything it uses exists
};

class Connector : public Napi::ObjectWrap<Connector> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Connector",
                       {
                           InstanceMethod<&Connector::Subscribe>("subscribe"),
                           InstanceMethod<&Connector::Unsubscribe>("unsubscribe"),
                           InstanceMethod<&Connector::Close>("close"),
                           InstanceMethod<&Connector::Take>("take"),
                           InstanceMethod<&Connector::TouchEveryCpu>("touchEveryCpu"),
                           InstanceMethod<&Connector::ReaderDrops>("readerDrops"),
                           InstanceMethod<&Connector::PendingBytes>("pendingBytes"),
                           InstanceMethod<&Connector::HeldBytes>("heldBytes"),
                           InstanceMethod<&Connector::ReceiveBufferBytes>("receiveBufferBytes"),
                           InstanceMethod<&Connector::BufferForced>("bufferForced"),
                           InstanceMethod<&Connector::KernelDrops>("kernelDrops"),
                       });
  }

  // new Connector(receiveBufferBytes, execMinLength, execWhatOffset, execWhat,
  //               execTgidOffset, chunkBytes, maxPendingBytes, onReady).
  // JavaScript checks the arguments (src/kernel/binding.ts).
  explicit Connector(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Connector>(info) {
    Napi::Env env = info.Env();
    const int receive_buffer_bytes = info[0].As<Napi::Number>().Int32Value();
    const ExecProbe exec{info[1].As<Napi::Number>().Uint32Value(),
                         info[2].As<Napi::Number>().Uint32Value(),
                         info[3].As<Napi::Number>().Uint32Value(),
                         info[4].As<Napi::Number>().Uint32Value()};
    chunk_bytes_ = static_cast<size_t>(info[5].As<Napi::Number>().Int64Value());
    const auto max_pending_bytes = static_cast<size_t>(info[6].As<Napi::Number>().Int64Value());
    // The reader reads these offsets in every datagram of at least min_length bytes.
    if (exec.what_offset + 4 > exec.min_length || exec.tgid_offset + 4 > exec.min_length) {
      throw Napi::RangeError::New(env, "the EXEC probe's offsets lie outside its minimum length");
    }
    Canaries();
    if (chunk_bytes_ < ProcSocket::kMaxBatchBytes || max_pending_bytes < chunk_bytes_) {
      throw Napi::RangeError::New(env, "a chunk must hold " + std::to_string(ProcSocket::kMaxBatchBytes) +
                                           " bytes (one read), and the pending bound one chunk");
    }
    try {
      socket_ = std::make_unique<ProcSocket>(receive_buffer_bytes, exec);
      wake_.reset(::eventfd(0, EFD_CLOEXEC));
      if (wake_.get() < 0) throw SysError{"eventfd", errno};
    } catch (const SysError& e) {
      throw ErrnoError(env, e);
    }

    auto handover = std::make_unique<Handover>(chunk_bytes_, max_pending_bytes);
    handover->notifier = Handover::Notifier::New(
        env, info[7].As<Napi::Function>(), "forkwatch reader", 0, 1, handover.get(),
        [](Napi::Env, void*, Handover* owned) { delete owned; }, static_cast<void*>(nullptr));
    handover_ = handover.release();
    // The reader must not keep the process alive on its own.
    handover_->notifier.Unref(env);

    // Both threads start before any subscription, so that a failure to start one leaves
    // nothing to undo in the kernel.
    try {
      toucher_ = std::make_unique<CpuToucher>();
      reader_ = StartThread("reader-thread", [this] { ReadLoop(); });
    } catch (const SysError& e) {
      toucher_.reset();
      handover_->notifier.Release();
      handover_ = nullptr;
      throw ErrnoError(env, e);
    }
    // Registered last, once nothing above can fail: it must only ever see a whole connector.
    env_ = env;
    napi_add_env_cleanup_hook(env, &Connector::CleanupHook, this);
    cleanup_registered_ = true;
  }

  ~Connector() override { Shutdown(); }

 private:
  // Deliberate undefined behaviour, in a build with failure injection only, for the test
  // that proves the sanitizers report (test/e2e/sanitizers.test.ts).
  static void Canaries() {
    if (Fault("heap-overflow")) {
      auto bytes = std::make_unique<char[]>(8);
      volatile size_t past_the_end = 8;
      bytes[past_the_end] = 1;
    }
    if (Fault("signed-overflow")) {
      volatile int largest = std::numeric_limits<int>::max();
      volatile int sum = largest + 1;
      (void)sum;
    }
  }

  static void CleanupHook(void* self) {
    auto* connector = static_cast<Connector*>(self);
    connector->cleanup_registered_ = false;
    connector->Shutdown();
  }

  void RequireOpen(Napi::Env env) const {
    if (!socket_) throw Napi::Error::New(env, "the connector is closed");
  }

  Napi::Value Subscribe(const Napi::CallbackInfo& info) {
    const uint32_t ack = info[0].As<Napi::Number>().Uint32Value();
    RequireOpen(info.Env());
    try {
      socket_->send_control(kMcastListen, ack);
    } catch (const SysError& e) {
      throw ErrnoError(info.Env(), e);
    }
    // Each LISTEN the kernel takes needs its IGNORE (forkwatch asks again when the first
    // acknowledgement may have been dropped), so each arms the abort path once more too.
    listens_++;
    ArmAbortIgnore(socket_->fd());
    return info.Env().Undefined();
  }

  Napi::Value Unsubscribe(const Napi::CallbackInfo& info) {
    RequireOpen(info.Env());
    try {
      SendIgnore();
    } catch (const SysError& e) {
      throw ErrnoError(info.Env(), e);
    }
    return info.Env().Undefined();
  }

  // PROC_CN_MCAST_IGNORE, once per LISTEN: before Linux 6.6 the kernel counts every LISTEN
  // and each IGNORE undoes one.
  void SendIgnore() {
    for (; listens_ > 0; listens_--) {
      DisarmAbortIgnore(socket_->fd());
      socket_->send_control(kMcastIgnore, 0);
    }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  // take(into: Buffer): copies the oldest chunk of pending records into `into` (at least
  // chunkBytes long) and returns how many bytes; 0 when nothing is pending.
  Napi::Value Take(const Napi::CallbackInfo& info) {
    auto into = info[0].As<Napi::Buffer<uint8_t>>();
    RequireOpen(info.Env());
    if (into.Length() < chunk_bytes_) throw Napi::RangeError::New(info.Env(), "take() needs a buffer of chunkBytes");
    if (Fault("take-alloc")) throw std::bad_alloc();
    std::lock_guard<std::mutex> lock(handover_->mutex);
    return Napi::Number::New(info.Env(), double(handover_->pending.take(into.Data())));
  }

  Napi::Value TouchEveryCpu(const Napi::CallbackInfo& info) {
    RequireOpen(info.Env());
    std::vector<int> cpus;
    if (!toucher_->Touch(kTouchTimeout, cpus)) {
      throw Napi::Error::New(info.Env(), "making an event on every CPU took longer than 1 s");
    }
    auto array = Napi::Array::New(info.Env(), cpus.size());
    for (size_t i = 0; i < cpus.size(); i++) array.Set(uint32_t(i), Napi::Number::New(info.Env(), cpus[i]));
    return array;
  }

  Napi::Value ReaderDrops(const Napi::CallbackInfo& info) {
    RequireOpen(info.Env());
    std::lock_guard<std::mutex> lock(handover_->mutex);
    return Napi::Number::New(info.Env(), handover_->reader_drops);
  }

  Napi::Value PendingBytes(const Napi::CallbackInfo& info) {
    RequireOpen(info.Env());
    std::lock_guard<std::mutex> lock(handover_->mutex);
    return Napi::Number::New(info.Env(), double(handover_->pending.pending_bytes()));
  }

  Napi::Value HeldBytes(const Napi::CallbackInfo& info) {
    RequireOpen(info.Env());
    std::lock_guard<std::mutex> lock(handover_->mutex);
    return Napi::Number::New(info.Env(), double(handover_->pending.held_bytes()));
  }

  Napi::Value ReceiveBufferBytes(const Napi::CallbackInfo& info) {
    return WithSocket(info, [](const ProcSocket& s) { return double(s.receive_buffer_bytes()); });
  }

  Napi::Value BufferForced(const Napi::CallbackInfo& info) {
    RequireOpen(info.Env());
    return Napi::Boolean::New(info.Env(), socket_->buffer_forced());
  }

  Napi::Value KernelDrops(const Napi::CallbackInfo& info) {
    return WithSocket(info, [](const ProcSocket& s) { return double(s.kernel_drops()); });
  }

  template <typename F>
  Napi::Value WithSocket(const Napi::CallbackInfo& info, F read) {
    RequireOpen(info.Env());
    try {
      return Napi::Number::New(info.Env(), read(*socket_));
    } catch (const SysError& e) {
      throw ErrnoError(info.Env(), e);
    }
  }

  // The teardown order:
  //   1. IGNORE, while the socket is open;
  //   2. the CPU toucher and the reader thread stop, before what they use goes;
  //   3. the socket and the eventfd close;
  //   4. the thread-safe function is released last, once nothing can call it; its
  //      finalizer frees the hand-over after any call still queued.
  // Safe to run twice: from close(), the destructor and the environment's cleanup hook.
  void Shutdown() {
    if (!socket_) return;
    try {
      SendIgnore();
    } catch (const SysError&) {
      // Nothing more can be done: the kernel never accepted this socket's requests.
    }
    toucher_.reset();
    const uint64_t one = 1;
    if (::write(wake_.get(), &one, sizeof one) < 0) {
      // An eventfd write fails only on counter overflow; the thread is woken regardless.
    }
    if (reader_.joinable()) reader_.join();
    socket_.reset();
    wake_.reset();
    if (cleanup_registered_) {
      napi_remove_env_cleanup_hook(env_, &Connector::CleanupHook, this);
      cleanup_registered_ = false;
    }
    handover_->notifier.Release();
    handover_ = nullptr;
  }

  // The reader thread: everything it throws ends it and is reported as its failure.
  void ReadLoop() noexcept {
    ::pthread_setname_np(::pthread_self(), "fw-reader");
    try {
      Read();
    } catch (const SysError& e) {
      Fail(ReaderFailure::Of(e));
    } catch (const std::bad_alloc&) {
      Fail(ReaderFailure::Of("out of memory (std::bad_alloc)"));
    } catch (const std::exception& e) {
      Fail(ReaderFailure::Of(e.what()));
    } catch (...) {
      Fail(ReaderFailure::Of("an exception of unknown type"));
    }
  }

  void Read() {
    std::vector<uint8_t> records;
    records.reserve(ProcSocket::kMaxBatchBytes);  // never grows: no allocation per read
    auto last_read_ended = std::chrono::steady_clock::time_point{};
    pollfd fds[2] = {{socket_->fd(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        throw SysError{"poll", errno};
      }
      if (fds[1].revents) return;
      for (;;) {
        records.clear();
        const size_t datagrams = socket_->read_batch(records);
        if (datagrams == 0) break;
        Deliver(records, datagrams);
      }
      if (Fault("reader-terminate")) std::terminate();
      // In a storm, let events gather before the next read: one wakeup per millisecond,
      // not one per event, for about 100 events of receive buffer. Only when the last
      // read ended under a millisecond ago, so that an event after a quiet spell (an
      // exec, whose name is read on arrival) is read at once.
      const auto ended = std::chrono::steady_clock::now();
      if (ended - last_read_ended < kGather) std::this_thread::sleep_for(kGather);
      last_read_ended = std::chrono::steady_clock::now();
    }
  }

  // Queues one read's records, or counts them dropped at the bound (they show as sequence
  // gaps like any other loss). JavaScript is told only when the queue was empty: it takes
  // everything that piles up meanwhile before it stops taking.
  void Deliver(const std::vector<uint8_t>& records, size_t datagrams) {
    if (Fault("reader-alloc")) throw std::bad_alloc();
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(handover_->mutex);
      was_empty = handover_->pending.empty();
      if (!handover_->pending.append(records.data(), records.size())) {
        handover_->reader_drops += double(datagrams);
        return;
      }
    }
    if (was_empty) handover_->notifier.NonBlockingCall();
  }

  void Fail(const ReaderFailure& failure) noexcept {
    {
      std::lock_guard<std::mutex> lock(handover_->mutex);
      handover_->failure = failure;
      handover_->failed = true;
    }
    handover_->notifier.NonBlockingCall();
  }

  Napi::Env env_{nullptr};
  std::unique_ptr<ProcSocket> socket_;
  Fd wake_;
  size_t chunk_bytes_ = 0;
  Handover* handover_ = nullptr;  // owned by its thread-safe function; null once released
  std::unique_ptr<CpuToucher> toucher_;
  std::thread reader_;
  int listens_ = 0;
  bool cleanup_registered_ = false;
};

}  // namespace
}  // namespace forkwatch

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Connector", forkwatch::Connector::Define(env));
  return exports;
}

NODE_API_MODULE(forkwatch, Init)
