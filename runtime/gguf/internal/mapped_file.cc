#include "runtime/gguf/internal/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hobbit::runtime::internal {
namespace {

constexpr size_t kPageAlignment = 4096;

absl::Status FileError(int err, const std::string& what, const std::string& path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " '", path, "'"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError(errno, "cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return FileError(err, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not a regular file"));
  }
  std::unique_ptr<MappedFile> file(new MappedFile());
  file->name_ = path;
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (file->size_ > 0) {
    // MAP_PRIVATE + PROT_READ: the process never writes the model, and a private mapping keeps
    // pages shared with the page cache.
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return FileError(err, "cannot mmap", path);
    }
    file->mapping_ = p;
    file->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return file;
}

std::unique_ptr<MappedFile> MappedFile::FromBytes(const std::vector<uint8_t>& bytes,
                                                  std::string name) {
  std::unique_ptr<MappedFile> file(new MappedFile());
  file->name_ = std::move(name);
  file->size_ = bytes.size();
  // An exact-size heap block (not a padded one) keeps AddressSanitizer precise at the end.
  file->copy_ = static_cast<uint8_t*>(
      ::operator new[](bytes.empty() ? 1 : bytes.size(), std::align_val_t{kPageAlignment}));
  if (!bytes.empty()) std::memcpy(file->copy_, bytes.data(), bytes.size());
  file->data_ = file->copy_;
  return file;
}

MappedFile::~MappedFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
  if (copy_ != nullptr) ::operator delete[](copy_, std::align_val_t{kPageAlignment});
}

}  // namespace hobbit::runtime::internal
