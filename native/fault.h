// Failure injection, for the tests that prove forkwatch survives what the machine can do
// to it (test/e2e/native-failures.test.ts). Only a build with FORKWATCH_FAULT_INJECTION
// defined (gyp variable forkwatch_fault_injection=1, built by that test into a folder of
// its own) reads the environment; in every other build Fault() is a constant false.
#pragma once

#ifdef FORKWATCH_FAULT_INJECTION
#include <atomic>
#include <cstdlib>
#include <cstring>
#endif

namespace forkwatch {

#ifdef FORKWATCH_FAULT_INJECTION
// FORKWATCH_FAULT=<point> fails that point at its FORKWATCH_FAULT_AFTER-th pass (default:
// the first), once. The points: touch-thread, reader-thread (the thread cannot be
// created), reader-alloc (an allocation fails as the reader queues its n-th read),
// reader-terminate (the reader calls std::terminate after its n-th wakeup, as an
// exception escaping a noexcept function would), and take-alloc (an allocation fails as
// JavaScript takes its n-th slice), and, to show that a sanitized build reports what it
// should, heap-overflow and signed-overflow (as a connector is made).
inline bool Fault(const char* point) {
  static const char* const wanted = std::getenv("FORKWATCH_FAULT");
  static std::atomic<long> passes_left{[] {
    const char* after = std::getenv("FORKWATCH_FAULT_AFTER");
    return after ? std::atol(after) : 1L;
  }()};
  if (wanted == nullptr || std::strcmp(wanted, point) != 0) return false;
  return passes_left.fetch_sub(1) == 1;
}
#else
constexpr bool Fault(const char*) { return false; }
#endif

}  // namespace forkwatch
