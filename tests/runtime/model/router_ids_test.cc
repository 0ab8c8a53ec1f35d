// The host looks experts up by the router's ids: an id out of range (a backend's bug, or a kernel
// fed non-finite logits) makes the step fail with an error that names it, instead of reading
// past the layer's experts.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model.h"
#include "runtime/model/sequence_runner.h"
#include "tests/support/fixture_files.h"
#include "tests/support/forwarding_backend.h"

namespace hobbit::runtime {
namespace {

const std::string kFixtures = std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/hf_tiny/";

// The CPU backend, whose router writes `bad_id` over its first choice once armed.
class BadRouterBackend final : public test_support::ForwardingBackend {
 public:
  absl::Status Router(const RouterParams& p) override {
    absl::Status s = ForwardingBackend::Router(p);
    if (s.ok() && armed) p.ids_host[0] = bad_id;
    return s;
  }
  bool armed = false;
  int32_t bad_id = 0;
};

TEST(RouterIdsTest, AnExpertIdOutOfRangeFailsTheStep) {
  auto file = GgufFile::Open(kFixtures + "mixtral/model-f32.gguf");
  ASSERT_TRUE(file.ok()) << file.status();
  const std::shared_ptr<const GgufFile> shared = std::move(*file);
  for (int32_t bad : {-1, 8, 1 << 30}) {  // the fixture has 8 experts
    BadRouterBackend backend;
    auto model = Model::Load(shared, backend, ModelLoadOptions{});
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_EQ((*model)->config().n_expert, 8);
    SequenceRunner runner(**model, backend);
    ASSERT_TRUE(runner.Init(64, /*chunk=*/4, /*block_size=*/4).ok());
    StepOutput out;
    const std::vector<int32_t> tokens = {1, 2, 3};
    ASSERT_TRUE(runner.Append(tokens, LogitsWanted::kLast, &out).ok());  // unarmed: runs
    backend.armed = true;
    backend.bad_id = bad;
    const absl::Status s = runner.Append(tokens, LogitsWanted::kLast, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
    EXPECT_NE(s.message().find("layer 0: the router chose expert " + std::to_string(bad) + " of 8"),
              std::string::npos)
        << s;
  }
}

}  // namespace
}  // namespace hobbit::runtime
