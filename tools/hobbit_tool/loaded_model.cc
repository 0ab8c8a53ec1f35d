#include "tools/hobbit_tool/loaded_model.h"

#include "kernels/base/status_macros.h"

namespace hobbit::tools {

absl::StatusOr<LoadedModel> LoadModel(const std::string& path, int threads) {
  LoadedModel m;
  HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<runtime::GgufFile> file, runtime::GgufFile::Open(path));
  m.file = std::move(file);
  runtime::CpuBackendOptions options;
  options.threads = threads;
  m.backend = std::make_unique<runtime::CpuBackend>(options);
  HOBBIT_ASSIGN_OR_RETURN(m.model, runtime::Model::Load(m.file, *m.backend, {}));
  return m;
}

}  // namespace hobbit::tools
