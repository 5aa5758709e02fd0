// The JavaScript face of the proc connector socket: a reader thread that drains the
// socket whatever the JavaScript thread is doing, and hands the datagrams to JavaScript
// in batches. Every protocol decision (decoding, validation, loss) is made in TypeScript.
#include <napi.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "proc_socket.h"

namespace forkwatch {
namespace {

constexpr uint32_t kMcastListen = 1;
constexpr uint32_t kMcastIgnore = 2;

// Datagrams waiting for JavaScript are held up to this many bytes (about 750,000 events,
// several seconds of the fastest fork storm); past it they are dropped here, and show as
// sequence gaps like any other loss. The Kubernetes memory limit counts on this bound.
constexpr size_t kMaxPendingBytes = 64u << 20;

// One JavaScript call takes about this much (some 10,000 events), then yields to the
// event loop, so a backlog cannot hold up scrapes and health checks for long.
constexpr size_t kHandoverBytes = 1u << 20;

constexpr std::chrono::microseconds kGather{1000};

Napi::Error ErrnoError(Napi::Env env, const SysError& e) {
  const char* name = strerrorname_np(e.err);
  const std::string code = name ? name : "E" + std::to_string(e.err);
  auto error = Napi::Error::New(
      env, code + ": " + std::strerror(e.err) + ", " + e.syscall);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, -e.err));  // negative, as Node's own errors
  error.Set("syscall", Napi::String::New(env, e.syscall));
  return error;
}

// What the reader thread hands over, owned jointly by the connector and every queued
// JavaScript call, so that a call still queued when the connector is destroyed is safe.
struct Handover {
  std::mutex mutex;
  std::deque<std::vector<uint8_t>> batches;
  size_t bytes = 0;
  bool failed = false;
  SysError failure{};
  // Set on the JavaScript thread once the thread-safe function is released.
  bool released = false;
  Napi::ThreadSafeFunction on_batch;
};
using HandoverRef = std::shared_ptr<Handover>;

class Connector : public Napi::ObjectWrap<Connector> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Connector",
                       {
                           InstanceMethod<&Connector::Subscribe>("subscribe"),
                           InstanceMethod<&Connector::Unsubscribe>("unsubscribe"),
                           InstanceMethod<&Connector::Close>("close"),
                           InstanceMethod<&Connector::ReceiveBufferBytes>("receiveBufferBytes"),
                           InstanceMethod<&Connector::BufferForced>("bufferForced"),
                           InstanceMethod<&Connector::KernelDrops>("kernelDrops"),
                           InstanceMethod<&Connector::ReaderDrops>("readerDrops"),
                           InstanceMethod<&Connector::TouchCpus>("touchEveryCpu"),
                       });
  }

  // new Connector(receiveBufferBytes, execMinLength, execWhatOffset, execWhat,
  //               execTgidOffset, onBatch): onBatch(batch: Buffer) or onBatch(null, error).
  // JavaScript checks the arguments (src/kernel/binding.ts).
  explicit Connector(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Connector>(info) {
    Napi::Env env = info.Env();
    const int receive_buffer_bytes = info[0].As<Napi::Number>().Int32Value();
    const ExecProbe exec{info[1].As<Napi::Number>().Uint32Value(),
                         info[2].As<Napi::Number>().Uint32Value(),
                         info[3].As<Napi::Number>().Uint32Value(),
                         info[4].As<Napi::Number>().Uint32Value()};
    // The reader reads these offsets in every datagram of at least min_length bytes.
    if (exec.what_offset + 4 > exec.min_length || exec.tgid_offset + 4 > exec.min_length) {
      throw Napi::RangeError::New(env, "the EXEC probe's offsets lie outside its minimum length");
    }
    try {
      socket_ = std::make_unique<ProcSocket>(receive_buffer_bytes, exec);
    } catch (const SysError& e) {
      throw ErrnoError(env, e);
    }
    wake_.reset(::eventfd(0, EFD_CLOEXEC));
    if (wake_.get() < 0) throw ErrnoError(env, SysError{"eventfd", errno});

    handover_->on_batch = Napi::ThreadSafeFunction::New(env, info[5].As<Napi::Function>(),
                                                        "forkwatch reader", 0, 1);
    // The reader must not keep the process alive on its own.
    handover_->on_batch.Unref(env);
    // Registered after the thread-safe function, so it runs before that is torn down.
    napi_add_env_cleanup_hook(env, &Connector::CleanupHook, this);
    cleanup_registered_ = true;
    env_ = env;
    reader_ = std::thread(&Connector::ReadLoop, this);
  }

  ~Connector() override { Shutdown(); }

 private:
  static void CleanupHook(void* self) {
    auto* connector = static_cast<Connector*>(self);
    connector->cleanup_registered_ = false;
    connector->Shutdown();
  }

  Napi::Value Subscribe(const Napi::CallbackInfo& info) {
    const uint32_t ack = info[0].As<Napi::Number>().Uint32Value();
    if (!socket_) throw Napi::Error::New(info.Env(), "the connector is closed");
    try {
      socket_->send_control(kMcastListen, ack);
    } catch (const SysError& e) {
      throw ErrnoError(info.Env(), e);
    }
    listens_++;
    TouchEveryCpu();
    return info.Env().Undefined();
  }

  // touchEveryCpu(): true if the events were made, false if no thread could be started
  // (EAGAIN while a fork bomb holds every pid): the drop counts still tell the loss.
  Napi::Value TouchCpus(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), TouchEveryCpu());
  }

  // Makes one event on every CPU this process may use, so that each CPU's sequence
  // numbers get a starting point at once, and a loss shows as a gap without waiting for
  // that CPU's next event. A thread pinned to each CPU in turn renames itself (a COMM
  // event, sent from that CPU).
  static bool TouchEveryCpu() {
    try {
      std::thread([] {
        cpu_set_t allowed;
        if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
          if (!CPU_ISSET(cpu, &allowed)) continue;
          cpu_set_t one;
          CPU_ZERO(&one);
          CPU_SET(cpu, &one);
          if (::pthread_setaffinity_np(::pthread_self(), sizeof one, &one) != 0) continue;
          ::prctl(PR_SET_NAME, "fw-cpu-start");
        }
      }).join();
      return true;
    } catch (const std::system_error&) {
      return false;
    }
  }

  Napi::Value Unsubscribe(const Napi::CallbackInfo& info) {
    if (!socket_) throw Napi::Error::New(info.Env(), "the connector is closed");
    try {
      SendIgnore();
    } catch (const SysError& e) {
      throw ErrnoError(info.Env(), e);
    }
    return info.Env().Undefined();
  }

  // PROC_CN_MCAST_IGNORE, once per LISTEN sent: before Linux 6.6 the kernel counts every
  // LISTEN it accepted and every IGNORE undoes one; since 6.6 it keeps one state per
  // socket, and a repeated LISTEN or IGNORE changes nothing. Either way the count is
  // restored, and requests from a private namespace are ignored altogether.
  void SendIgnore() {
    for (; listens_ > 0; listens_--) socket_->send_control(kMcastIgnore, 0);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Value ReceiveBufferBytes(const Napi::CallbackInfo& info) {
    return WithSocket(info, [](const ProcSocket& s) { return double(s.receive_buffer_bytes()); });
  }

  Napi::Value BufferForced(const Napi::CallbackInfo& info) {
    if (!socket_) throw Napi::Error::New(info.Env(), "the connector is closed");
    return Napi::Boolean::New(info.Env(), socket_->buffer_forced());
  }

  Napi::Value KernelDrops(const Napi::CallbackInfo& info) {
    return WithSocket(info, [](const ProcSocket& s) { return double(s.kernel_drops()); });
  }

  // Datagrams the reader read but dropped at kMaxPendingBytes.
  Napi::Value ReaderDrops(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(reader_drops_.load(std::memory_order_relaxed)));
  }

  template <typename F>
  Napi::Value WithSocket(const Napi::CallbackInfo& info, F read) {
    if (!socket_) throw Napi::Error::New(info.Env(), "the connector is closed");
    try {
      return Napi::Number::New(info.Env(), read(*socket_));
    } catch (const SysError& e) {
      throw ErrnoError(info.Env(), e);
    }
  }

  // Teardown order matters: IGNORE goes out while the socket is open, the reader thread
  // stops before the socket it reads is closed, and the thread-safe function is released
  // last, once nothing can call it.
  void Shutdown() {
    if (!socket_) return;
    try {
      SendIgnore();
    } catch (const SysError&) {
      // Nothing more can be done: the kernel never accepted this socket's requests.
    }
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
    {
      std::lock_guard<std::mutex> lock(handover_->mutex);
      handover_->released = true;
    }
    handover_->on_batch.Release();
  }

  void ReadLoop() {
    ::pthread_setname_np(::pthread_self(), "fw-reader");
    std::vector<uint8_t> batch;
    auto last_read_ended = std::chrono::steady_clock::time_point{};
    pollfd fds[2] = {{socket_->fd(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        Fail(SysError{"poll", errno});
        return;
      }
      if (fds[1].revents) return;
      try {
        while (size_t datagrams = socket_->read_batch(batch)) {
          Deliver(std::move(batch), datagrams);
          batch = {};
        }
      } catch (const SysError& e) {
        Fail(e);
        return;
      }
      // In a storm, let events gather before the next read: one wakeup per millisecond,
      // not one per event, for about 100 events of receive buffer. Only when the last
      // read ended under a millisecond ago, so that an event after a quiet spell (an
      // exec, whose name is read on arrival) is read at once.
      const auto ended = std::chrono::steady_clock::now();
      if (ended - last_read_ended < kGather) std::this_thread::sleep_for(kGather);
      last_read_ended = std::chrono::steady_clock::now();
    }
  }

  // Appends to what JavaScript has not taken yet, and asks for a JavaScript call only
  // when that was empty: one call takes everything that has piled up meanwhile.
  void Deliver(std::vector<uint8_t>&& batch, size_t datagrams) {
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(handover_->mutex);
      if (handover_->bytes + batch.size() > kMaxPendingBytes) {
        reader_drops_.fetch_add(datagrams, std::memory_order_relaxed);
        return;
      }
      was_empty = handover_->batches.empty();
      handover_->bytes += batch.size();
      handover_->batches.push_back(std::move(batch));
    }
    if (was_empty) Notify(handover_);
  }

  void Fail(const SysError& e) {
    {
      std::lock_guard<std::mutex> lock(handover_->mutex);
      handover_->failure = e;
      handover_->failed = true;
    }
    Notify(handover_);
  }

  static void Notify(const HandoverRef& handover) {
    auto* ref = new HandoverRef(handover);
    if (handover->on_batch.NonBlockingCall(ref, &Connector::CallJs) != napi_ok) delete ref;
  }

  static void CallJs(Napi::Env env, Napi::Function callback, HandoverRef* ref) {
    const HandoverRef handover = *ref;
    delete ref;
    if (env == nullptr) return;  // the environment is going away
    std::vector<uint8_t> taken;
    bool failed;
    bool more;
    SysError failure{};
    {
      std::lock_guard<std::mutex> lock(handover->mutex);
      while (!handover->batches.empty() && taken.size() < kHandoverBytes) {
        const auto& batch = handover->batches.front();
        taken.insert(taken.end(), batch.begin(), batch.end());
        handover->bytes -= batch.size();
        handover->batches.pop_front();
      }
      more = !handover->batches.empty() && !handover->released;
      failed = handover->failed;
      failure = handover->failure;
      handover->failed = false;
    }
    // The rest in another call, after the event loop has had its turn.
    if (more) Notify(handover);
    // The JavaScript handler catches its own errors; a call can still fail while the
    // environment shuts down, and an exception must not escape into Node here.
    try {
      if (!taken.empty()) {
        callback.Call({Napi::Buffer<uint8_t>::Copy(env, taken.data(), taken.size())});
      }
      if (failed) callback.Call({env.Null(), ErrnoError(env, failure).Value()});
    } catch (const Napi::Error&) {
    }
  }

  Napi::Env env_{nullptr};
  std::unique_ptr<ProcSocket> socket_;
  Fd wake_;
  std::thread reader_;
  // LISTENs sent, each to be answered by an IGNORE.
  unsigned listens_ = 0;
  bool cleanup_registered_ = false;
  std::atomic<uint64_t> reader_drops_{0};

  HandoverRef handover_ = std::make_shared<Handover>();
};

}  // namespace
}  // namespace forkwatch

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Connector", forkwatch::Connector::Define(env));
  return exports;
}

NODE_API_MODULE(forkwatch, Init)
