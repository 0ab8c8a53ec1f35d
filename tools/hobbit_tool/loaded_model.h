// LoadedModel: a GGUF file, a CPU backend and the model on it, for the offline subcommands.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/backend/cpu_backend.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model.h"

namespace hobbit::tools {

struct LoadedModel {
  std::shared_ptr<const runtime::GgufFile> file;
  std::unique_ptr<runtime::CpuBackend> backend;
  std::unique_ptr<runtime::Model> model;
};

absl::StatusOr<LoadedModel> LoadModel(const std::string& path, int threads);

}  // namespace hobbit::tools
