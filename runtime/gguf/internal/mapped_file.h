// MappedFile: the read-only bytes of one file, either memory-mapped from disk or held in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hobbit::runtime::internal {

// Owns a private read-only mapping (or an aligned copy of bytes) and releases it on
// destruction. Immutable, so reads from any thread are safe.
class MappedFile {
 public:
  // NotFound if the file does not exist; other errno-based errors name the path.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  // Copies `bytes` into a page-aligned buffer, so tensor data is aligned as in a mapping.
  static std::unique_ptr<MappedFile> FromBytes(const std::vector<uint8_t>& bytes,
                                               std::string name);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  MappedFile() = default;

  std::string name_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  void* mapping_ = nullptr;  // non-null when mmap'd
  uint8_t* copy_ = nullptr;  // non-null for FromBytes; page-aligned operator new[]
};

}  // namespace hobbit::runtime::internal
