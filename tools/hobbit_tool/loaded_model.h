// LoadedModel: a GGUF file, a backend and the model on it, for the offline subcommands.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model.h"

namespace hobbit::tools {

struct LoadedModel {
  std::shared_ptr<const runtime::GgufFile> file;
  std::unique_ptr<runtime::Backend> backend;
  std::unique_ptr<runtime::Model> model;
};

// `backend`: "cpu", "cuda" or "auto" (CUDA when built with it and a GPU is present).
absl::StatusOr<LoadedModel> LoadModel(const std::string& path, const std::string& backend, int threads);

}  // namespace hobbit::tools
