#include "runtime/experts/expert_store.h"

#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/status_macros.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/quant/dequantize.h"
#include "kernels/quant/quantize.h"
#include "runtime/experts/internal/checksum.h"

namespace hobbit::runtime {
namespace {

using kernels::GgmlType;

constexpr char kMagic[8] = {'H', 'B', 'E', 'X', 'L', 'O', 'W', '1'};
// 2: the K-quant range fit changed (commit 00bef50); caches of version 1 are rebuilt.
constexpr uint32_t kVersion = 2;
constexpr int64_t kAlign = 64;

int64_t AlignUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Little helpers to (de)serialize the header field by field.
class ByteWriter {
 public:
  template <typename T>
  void Put(const T& v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void PutBytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

struct CacheHeader {
  uint32_t version = 0, format = 0, n_layer = 0, n_expert = 0;
  uint64_t model_size = 0;
  int64_t model_mtime_ns = 0;
  uint64_t layout_hash = 0, payload_bytes = 0, checksum = 0;
  std::string path;
};

template <typename T>
bool ReadField(std::FILE* f, T* v) {
  return std::fread(v, sizeof(T), 1, f) == 1;
}

bool ReadHeader(std::FILE* f, CacheHeader* h) {
  char magic[8];
  if (std::fread(magic, 1, 8, f) != 8 || std::memcmp(magic, kMagic, 8) != 0) return false;
  uint32_t path_len = 0;
  if (!ReadField(f, &h->version) || !ReadField(f, &h->format) || !ReadField(f, &h->n_layer) ||
      !ReadField(f, &h->n_expert) || !ReadField(f, &h->model_size) || !ReadField(f, &h->model_mtime_ns) ||
      !ReadField(f, &h->layout_hash) || !ReadField(f, &h->payload_bytes) || !ReadField(f, &h->checksum) ||
      !ReadField(f, &path_len) || path_len > 65536) {
    return false;
  }
  h->path.resize(path_len);
  return path_len == 0 || std::fread(h->path.data(), 1, path_len, f) == path_len;
}

// Re-quantizes rows [row_begin, row_end) of one matrix from its high type into its low type.
absl::Status Requantize(const WeightView& high, const WeightView& low, int64_t row_begin, int64_t row_end) {
  std::vector<float> row(static_cast<size_t>(high.cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    const auto* src = static_cast<const uint8_t*>(high.data) + r * high.row_bytes;
    auto* dst = const_cast<uint8_t*>(static_cast<const uint8_t*>(low.data)) + r * low.row_bytes;
    if (low.type == high.type) {
      std::memcpy(dst, src, static_cast<size_t>(high.row_bytes));
      continue;
    }
    HOBBIT_RETURN_IF_ERROR(kernels::DequantizeRow(static_cast<GgmlType>(high.type), src, row.data(), high.cols));
    HOBBIT_RETURN_IF_ERROR(kernels::QuantizeRow(static_cast<GgmlType>(low.type), row.data(), dst, high.cols));
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t LowTypeFor(LowFormat format, uint32_t high_type, int64_t cols) {
  if (format == LowFormat::kAuto) {
    format = high_type == static_cast<uint32_t>(GgmlType::kQ8_0) ? LowFormat::kInt2 : LowFormat::kInt4;
  }
  if (format == LowFormat::kInt2 && cols % 256 == 0) return static_cast<uint32_t>(GgmlType::kQ2_K);
  if (cols % 32 == 0) return static_cast<uint32_t>(GgmlType::kQ4_1);
  return high_type;  // no group-wise type fits this row length: the low copy is the high one
}

absl::StatusOr<std::unique_ptr<ExpertStore>> ExpertStore::Create(const ModelConfig& config,
                                                                 std::span<const LayerExperts> experts,
                                                                 const ExpertStoreOptions& options) {
  auto say = [&](std::string_view line) {
    if (options.progress) options.progress(line);
  };
  std::unique_ptr<ExpertStore> store(new ExpertStore());
  store->n_layer_ = static_cast<int32_t>(experts.size());
  store->n_expert_ = config.n_expert;
  store->format_ = options.format;
  store->pin_with_ = options.pin_with;
  for (int32_t l = 0; l < store->n_layer_; ++l) {
    const LayerExperts& ex = experts[l];
    if (static_cast<int32_t>(ex.gate.size()) != config.n_expert || ex.up.size() != ex.gate.size() ||
        ex.down.size() != ex.gate.size()) {
      return absl::InvalidArgumentError(absl::StrCat("expert store: layer ", l, " has ", ex.gate.size(),
                                                     " experts, expected ", config.n_expert));
    }
    for (int32_t e = 0; e < config.n_expert; ++e) {
      ExpertCopy c{ex.gate[e], ex.up[e], ex.down[e]};
      store->max_high_bytes_ = std::max(store->max_high_bytes_, c.bytes());
      store->high_.push_back(c);
    }
  }
  HOBBIT_RETURN_IF_ERROR(store->PinHigh(options.model_path, options.threads, say));
  if (!options.make_low) return store;
  HOBBIT_RETURN_IF_ERROR(store->PlanLow(options.format));
  if (!store->pin_problem_.empty()) {
    say(absl::StrCat("warning: ", store->pin_problem_, "; low-precision experts stay in pageable memory"));
  }
  const uint64_t layout = store->LayoutHash();
  if (!options.state_dir.empty() && !options.model_path.empty()) {
    struct stat st;
    if (::stat(options.model_path.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("expert store: cannot stat model file ", options.model_path));
    }
    store->model_path_ = options.model_path;
    store->model_size_ = static_cast<uint64_t>(st.st_size);
    store->model_mtime_ns_ = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    const uint64_t key = internal::Checksum64(
        absl::StrCat(options.model_path, "|", store->model_size_, "|", store->model_mtime_ns_, "|",
                     LowFormatName(options.format), "|", layout));
    store->cache_path_ = absl::StrFormat("%s/experts-low-%016x.bin", options.state_dir, key);
    absl::Status read = store->ReadCache(layout);
    if (read.ok()) {
      store->loaded_from_cache_ = true;
      say(absl::StrCat("low-precision experts read from ", store->cache_path_));
      return store;
    }
    store->cache_problem_ = std::string(read.message());
    if (!absl::IsNotFound(read)) say(absl::StrCat("low-precision expert cache rejected (", read.message(), "); rebuilding"));
  }
  HOBBIT_RETURN_IF_ERROR(store->BuildLow(options.threads, options.progress));
  if (!store->cache_path_.empty()) {
    absl::Status written = store->WriteCache(layout);
    // The disk cache only saves start-up time: a failure to write it is reported, not fatal.
    say(written.ok() ? absl::StrCat("low-precision experts written to ", store->cache_path_)
                     : absl::StrCat("warning: could not write the low-precision expert cache: ", written.message()));
  }
  return store;
}

absl::Status ExpertStore::AllocateLow(size_t bytes) {
  if (pin_with_ != nullptr) {
    absl::StatusOr<std::unique_ptr<HostBuffer>> pinned = pin_with_->AllocateHost(bytes, "low-precision experts");
    if (pinned.ok()) {
      low_pinned_ = std::move(*pinned);
      low_base_ = static_cast<uint8_t*>(low_pinned_->data());
      low_size_ = bytes;
      std::memset(low_base_, 0, bytes);  // alignment gaps are checksummed too
      return absl::OkStatus();
    }
    pin_problem_ = std::string(pinned.status().message());
  }
  low_plain_.assign(bytes, 0);
  low_base_ = low_plain_.data();
  low_size_ = bytes;
  return absl::OkStatus();
}

namespace {

bool OnMemoryBackedFs(const std::string& path) {
  struct statfs fs;
  if (path.empty() || ::statfs(path.c_str(), &fs) != 0) return false;
  constexpr uint64_t kTmpfs = 0x01021994, kRamfs = 0x858458f6, kHugetlbfs = 0x958458f6;
  const auto type = static_cast<uint64_t>(fs.f_type);
  return type == kTmpfs || type == kRamfs || type == kHugetlbfs;
}

}  // namespace

absl::Status ExpertStore::PinHigh(const std::string& model_path, int32_t threads,
                                  const std::function<void(std::string_view)>& say) {
  if (pin_with_ == nullptr || high_.empty()) return absl::OkStatus();
  uintptr_t begin = UINTPTR_MAX, end = 0;
  int64_t total = 0;
  for (const ExpertCopy& c : high_) {
    for (const WeightView* v : {&c.gate, &c.up, &c.down}) {
      const auto a = reinterpret_cast<uintptr_t>(v->data);
      begin = std::min(begin, a);
      end = std::max(end, a + static_cast<uintptr_t>(v->bytes()));
      total += AlignUp(v->bytes());
    }
  }
  if (OnMemoryBackedFs(model_path)) {
    // The mapped pages are memory already: page-lock them in place.
    absl::StatusOr<std::unique_ptr<HostRegistration>> pin =
        pin_with_->RegisterHost(reinterpret_cast<const void*>(begin), end - begin, "the model file's experts");
    if (pin.ok()) {
      high_pin_ = std::move(*pin);
      high_pinned_ = true;
      return absl::OkStatus();
    }
    say(absl::StrCat("warning: ", pin.status().message(), "; high-precision expert copies will be slower"));
    return absl::OkStatus();
  }
  // A disk file's page cache is not page-locked: pinning file pages for the long term makes the
  // kernel write back and migrate them first, which stalled start-up for minutes on a freshly
  // written model on the H200 machine. The experts are copied into pinned memory instead.
  absl::StatusOr<std::unique_ptr<HostBuffer>> copy = pin_with_->AllocateHost(static_cast<size_t>(total),
                                                                             "high-precision experts");
  if (!copy.ok()) {
    say(absl::StrCat("warning: ", copy.status().message(), "; high-precision expert copies will be slower"));
    return absl::OkStatus();
  }
  say(absl::StrFormat("copying %.2f GB of high-precision experts into pinned memory", total / 1e9));
  uint8_t* dst = (*copy)->as<uint8_t>();
  std::vector<std::pair<WeightView*, uint8_t*>> moves;
  for (ExpertCopy& c : high_) {
    for (WeightView* v : {&c.gate, &c.up, &c.down}) {
      moves.emplace_back(v, dst);
      dst += AlignUp(v->bytes());
    }
  }
  kernels::ThreadPool pool(threads);
  pool.ParallelFor(static_cast<int64_t>(moves.size()), 1, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      std::memcpy(moves[i].second, moves[i].first->data, static_cast<size_t>(moves[i].first->bytes()));
    }
  });
  for (auto& [view, data] : moves) view->data = data;
  high_copy_ = std::move(*copy);
  high_pinned_ = true;
  return absl::OkStatus();
}

absl::Status ExpertStore::PlanLow(LowFormat format) {
  int64_t offset = 0;
  std::vector<ExpertCopy> low;
  auto plan = [&](const WeightView& high) -> absl::StatusOr<WeightView> {
    WeightView w;
    w.type = LowTypeFor(format, high.type, high.cols);
    w.rows = high.rows;
    w.cols = high.cols;
    auto row_bytes = kernels::GgmlRowBytes(w.type, w.cols);
    if (!row_bytes) return absl::InvalidArgumentError(absl::StrCat("expert store: no row size for ", w.cols));
    w.row_bytes = *row_bytes;
    w.data = reinterpret_cast<const void*>(offset);  // rebased onto low_base_ below
    offset += AlignUp(w.bytes());
    return w;
  };
  for (const ExpertCopy& h : high_) {
    ExpertCopy c;
    HOBBIT_ASSIGN_OR_RETURN(c.gate, plan(h.gate));
    HOBBIT_ASSIGN_OR_RETURN(c.up, plan(h.up));
    HOBBIT_ASSIGN_OR_RETURN(c.down, plan(h.down));
    max_low_bytes_ = std::max(max_low_bytes_, c.bytes());
    low.push_back(c);
  }
  HOBBIT_RETURN_IF_ERROR(AllocateLow(static_cast<size_t>(offset)));
  const uint8_t* base = low_base_;
  for (ExpertCopy& c : low) {
    for (WeightView* w : {&c.gate, &c.up, &c.down}) w->data = base + reinterpret_cast<uintptr_t>(w->data);
  }
  low_ = std::move(low);
  return absl::OkStatus();
}

uint64_t ExpertStore::LayoutHash() const {
  ByteWriter w;
  for (const ExpertCopy& c : low_) {
    for (const WeightView* v : {&c.gate, &c.up, &c.down}) {
      w.Put(v->type);
      w.Put(v->rows);
      w.Put(v->cols);
      w.Put(static_cast<int64_t>(static_cast<const uint8_t*>(v->data) - low_base_));
    }
  }
  return internal::Checksum64(w.bytes().data(), w.bytes().size());
}

absl::Status ExpertStore::BuildLow(int32_t threads, const std::function<void(std::string_view)>& progress) {
  const WeightView& sample = low_.empty() ? WeightView{} : low_[0].gate;
  if (progress) {
    progress(absl::StrCat("making low-precision experts (", LowFormatName(format_), ": gate/up ",
                          kernels::GgmlTypeName(sample.type), ", down ",
                          kernels::GgmlTypeName(low_.empty() ? 0 : low_[0].down.type), ") for ", n_layer_,
                          " layers of ", n_expert_, " experts"));
  }
  kernels::ThreadPool pool(threads);
  std::mutex mu;
  absl::Status first_error;
  int last_percent = -1;
  // Work items are chunks of rows, not whole matrices: Mixtral's 24 matrices a layer left a
  // third of 16 threads idle for the second half of each layer.
  constexpr int64_t kRowsPerItem = 256;
  for (int32_t l = 0; l < n_layer_ && n_expert_ > 0; ++l) {
    const int64_t max_rows = std::max(high_[Index(l, 0)].gate.rows, high_[Index(l, 0)].down.rows);
    const int64_t chunks = (max_rows + kRowsPerItem - 1) / kRowsPerItem;
    pool.ParallelFor(int64_t{n_expert_} * 3 * chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t matrix = i / chunks, chunk = i % chunks;
        const size_t idx = Index(l, static_cast<int32_t>(matrix / 3));
        const int m = static_cast<int>(matrix % 3);
        const WeightView& h = m == 0 ? high_[idx].gate : m == 1 ? high_[idx].up : high_[idx].down;
        const WeightView& w = m == 0 ? low_[idx].gate : m == 1 ? low_[idx].up : low_[idx].down;
        const int64_t row_begin = std::min(h.rows, chunk * kRowsPerItem);
        absl::Status s = Requantize(h, w, row_begin, std::min(h.rows, row_begin + kRowsPerItem));
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.ok()) first_error = s;
        }
      }
    });
    if (!first_error.ok()) {
      return absl::Status(first_error.code(), absl::StrCat("expert store: layer ", l, ": ", first_error.message()));
    }
    const int percent = (l + 1) * 100 / n_layer_;
    if (progress && percent / 10 != last_percent / 10) {
      progress(absl::StrFormat("making low-precision experts: %d%% (%d/%d layers)", percent, l + 1, n_layer_));
      last_percent = percent;
    }
  }
  return absl::OkStatus();
}

absl::Status ExpertStore::ReadCache(uint64_t layout_hash) {
  std::FILE* f = std::fopen(cache_path_.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("no cache file ", cache_path_));
  CacheHeader h;
  const bool header_ok = ReadHeader(f, &h);
  auto fail = [&](std::string why) {
    std::fclose(f);
    return absl::DataLossError(absl::StrCat(cache_path_, ": ", why));
  };
  if (!header_ok) return fail("bad or truncated header");
  if (h.version != kVersion) return fail(absl::StrCat("version ", h.version, ", expected ", kVersion));
  if (h.path != model_path_ || h.model_size != model_size_ || h.model_mtime_ns != model_mtime_ns_) {
    return fail("made for another model file (path, size or mtime differ)");
  }
  if (h.format != static_cast<uint32_t>(format_) || h.layout_hash != layout_hash ||
      h.n_layer != static_cast<uint32_t>(n_layer_) || h.n_expert != static_cast<uint32_t>(n_expert_)) {
    return fail("made for another format or layout");
  }
  if (h.payload_bytes != low_size_) {
    return fail(absl::StrCat("payload of ", h.payload_bytes, " bytes, expected ", low_size_));
  }
  if (std::fread(low_base_, 1, low_size_, f) != low_size_) return fail("truncated payload");
  if (std::fgetc(f) != EOF) return fail("trailing bytes after the payload");
  std::fclose(f);
  const uint64_t sum = internal::Checksum64(low_base_, low_size_);
  if (sum != h.checksum) {
    return absl::DataLossError(absl::StrFormat("%s: checksum %016x, header says %016x", cache_path_, sum, h.checksum));
  }
  return absl::OkStatus();
}

absl::Status ExpertStore::WriteCache(uint64_t layout_hash) const {
  ByteWriter w;
  w.PutBytes(kMagic, sizeof(kMagic));
  w.Put(kVersion);
  w.Put(static_cast<uint32_t>(format_));
  w.Put(static_cast<uint32_t>(n_layer_));
  w.Put(static_cast<uint32_t>(n_expert_));
  w.Put(model_size_);
  w.Put(model_mtime_ns_);
  w.Put(layout_hash);
  w.Put(static_cast<uint64_t>(low_size_));
  w.Put(internal::Checksum64(low_base_, low_size_));
  w.Put(static_cast<uint32_t>(model_path_.size()));
  w.PutBytes(model_path_.data(), model_path_.size());
  // Written to a temporary name and renamed, so a crash never leaves a half file under the name.
  const std::string tmp = absl::StrCat(cache_path_, ".tmp.", ::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return absl::UnavailableError(absl::StrCat("cannot create ", tmp));
  bool ok = std::fwrite(w.bytes().data(), 1, w.bytes().size(), f) == w.bytes().size() &&
            std::fwrite(low_base_, 1, low_size_, f) == low_size_;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), cache_path_.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write ", cache_path_));
  }
  return absl::OkStatus();
}

}  // namespace hobbit::runtime
