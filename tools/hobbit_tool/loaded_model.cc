#include "tools/hobbit_tool/loaded_model.h"

#include "kernels/base/status_macros.h"
#include "runtime/backend/backend_factory.h"

namespace hobbit::tools {

absl::StatusOr<LoadedModel> LoadModel(const std::string& path, const std::string& backend, int threads) {
  LoadedModel m;
  HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<runtime::GgufFile> file, runtime::GgufFile::Open(path));
  m.file = std::move(file);
  runtime::BackendChoice choice;
  choice.name = backend;
  choice.cpu_threads = threads;
  HOBBIT_ASSIGN_OR_RETURN(m.backend, runtime::CreateBackend(choice));
  HOBBIT_ASSIGN_OR_RETURN(m.model, runtime::Model::Load(m.file, *m.backend, {}));
  return m;
}

}  // namespace hobbit::tools
