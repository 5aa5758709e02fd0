// Records the reader thread has read and JavaScript has not taken yet. They are held in
// chunks of one fixed size, each its own mapping: what is held is counted in whole chunks
// (capacity, not bytes used), and a chunk given back leaves the process at once. (glibc
// would keep freed blocks of this size in its heap, raising its mmap threshold as it goes.)
// Plain C++: the reader thread uses it under the hand-over's mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

namespace forkwatch {

// One mapping of `capacity` bytes, unmapped once. Throws std::bad_alloc.
class Chunk {
 public:
  explicit Chunk(size_t capacity);
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;
  ~Chunk();

  size_t room() const { return capacity_ - used_; }
  void append(const uint8_t* bytes, size_t length);  // length <= room()
  const uint8_t* data() const { return data_; }
  size_t used() const { return used_; }
  void clear() { used_ = 0; }

 private:
  uint8_t* data_;
  size_t capacity_;
  size_t used_ = 0;
};

class PendingQueue {
 public:
  // `chunk_bytes` must hold the largest batch the reader appends at once.
  PendingQueue(size_t chunk_bytes, size_t max_bytes) : chunk_bytes_(chunk_bytes), max_bytes_(max_bytes) {}

  // Appends one batch of whole records (at most chunk_bytes), in a single chunk so that
  // no record is split. False, appending nothing, when another chunk would pass the
  // bound. Throws std::bad_alloc.
  bool append(const uint8_t* records, size_t length);

  // Moves the oldest chunk's records to `out` (room for chunk_bytes); returns how many
  // bytes, 0 when nothing is pending. The chunk is kept as the spare, or given back.
  size_t take(uint8_t* out);

  bool empty() const { return chunks_.empty(); }
  // Bytes of records waiting.
  size_t pending_bytes() const { return pending_bytes_; }
  // Every byte this queue holds, the spare chunk included.
  size_t held_bytes() const { return (chunks_.size() + (spare_ ? 1 : 0)) * chunk_bytes_; }

 private:
  const size_t chunk_bytes_;
  const size_t max_bytes_;
  std::deque<std::unique_ptr<Chunk>> chunks_;
  size_t pending_bytes_ = 0;
  // One emptied chunk kept back, so that a steady trickle does not map and unmap a
  // chunk per slice.
  std::unique_ptr<Chunk> spare_;
};

}  // namespace forkwatch
