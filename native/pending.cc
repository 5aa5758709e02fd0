#include "pending.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

namespace forkwatch {

Chunk::Chunk(size_t capacity) : capacity_(capacity) {
  void* mapped = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(mapped);
}

Chunk::~Chunk() { ::munmap(data_, capacity_); }

void Chunk::append(const uint8_t* bytes, size_t length) {
  std::memcpy(data_ + used_, bytes, length);
  used_ += length;
}

bool PendingQueue::append(const uint8_t* records, size_t length) {
  if (chunks_.empty() || chunks_.back()->room() < length) {
    if (!spare_) {
      if (held_bytes() + chunk_bytes_ > max_bytes_) return false;
      spare_ = std::make_unique<Chunk>(chunk_bytes_);
    }
    chunks_.push_back(std::move(spare_));
  }
  chunks_.back()->append(records, length);
  pending_bytes_ += length;
  return true;
}

size_t PendingQueue::take(uint8_t* out) {
  if (chunks_.empty()) return 0;
  std::unique_ptr<Chunk> oldest = std::move(chunks_.front());
  chunks_.pop_front();
  const size_t length = oldest->used();
  std::memcpy(out, oldest->data(), length);
  pending_bytes_ -= length;
  if (!spare_) {
    oldest->clear();
    spare_ = std::move(oldest);
  }
  return length;
}

}  // namespace forkwatch
