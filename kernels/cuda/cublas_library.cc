#include "kernels/cuda/cublas_library.h"

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace hobbit::kernels {
namespace {

absl::StatusOr<CublasLibrary> Load() {
  const char* names[] = {"libcublas.so.13", "libcublas.so"};
  void* handle = nullptr;
  std::string tried;
  for (const char* name : names) {
    handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    absl::StrAppend(&tried, tried.empty() ? "" : "; ", dlerror());
  }
  if (handle == nullptr) return absl::UnavailableError(absl::StrCat("cannot load cuBLAS: ", tried));
  CublasLibrary lib{};
  auto resolve = [&](auto& fn, const char* symbol) -> absl::Status {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, symbol));
    if (fn == nullptr) return absl::UnavailableError(absl::StrCat("cuBLAS lacks ", symbol));
    return absl::OkStatus();
  };
  for (absl::Status s : {resolve(lib.create, "cublasCreate_v2"), resolve(lib.destroy, "cublasDestroy_v2"),
                         resolve(lib.set_stream, "cublasSetStream_v2"), resolve(lib.sgemm, "cublasSgemm_v2"),
                         resolve(lib.gemm_ex, "cublasGemmEx"),
                         resolve(lib.status_string, "cublasGetStatusString"),
                         resolve(lib.set_math_mode, "cublasSetMathMode")}) {
    if (!s.ok()) return s;
  }
  return lib;
}

}  // namespace

absl::StatusOr<const CublasLibrary*> GetCublasLibrary() {
  static const absl::StatusOr<CublasLibrary>* library = new absl::StatusOr<CublasLibrary>(Load());
  if (!library->ok()) return library->status();
  return &**library;
}

}  // namespace hobbit::kernels
