#include "runtime/tokenizer/internal/bpe_encoder.h"

#include <queue>
#include <string>

#include "runtime/tokenizer/internal/byte_level.h"

namespace hobbit::runtime::internal {
namespace {

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace

BpeEncoder::BpeEncoder(const TokenizerVocab& vocab, const TokenIndex& index,
                       const PreTokenizerConfig& config)
    : index_(index),
      pre_tokenizer_(config.kind),
      ignore_merges_(config.ignore_merges),
      unk_id_(vocab.unk_id) {
  for (int b = 0; b < 256; ++b) {
    byte_ids_[b] = index.Find(ByteLevelEncode(std::string(1, static_cast<char>(b))));
  }
  merges_.reserve(vocab.merges.size());
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const std::string_view merge = vocab.merges[rank];
    const size_t space = merge.find(' ', 1);  // validated: present, with text on both sides
    const std::string_view left_text = merge.substr(0, space);
    const std::string_view right_text = merge.substr(space + 1);
    const int32_t left = index.Find(left_text);
    const int32_t right = index.Find(right_text);
    const int32_t result = index.Find(std::string(left_text) + std::string(right_text));
    if (left < 0 || right < 0 || result < 0) {
      ++unusable_merges_;
      continue;
    }
    // A repeated pair keeps its first (lowest) rank.
    merges_.try_emplace(PairKey(left, right), Merge{static_cast<int32_t>(rank), result});
  }
}

const BpeEncoder::Merge* BpeEncoder::FindMerge(int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return nullptr;
  const auto it = merges_.find(PairKey(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeEncoder::Encode(std::string_view text, std::vector<int32_t>* out) const {
  for (std::string_view piece : pre_tokenizer_.Split(text)) EncodePiece(piece, out);
}

// One symbol per byte of a piece (each byte is one character of the GPT-2 alphabet), kept in a
// linked list; a merge grows the left symbol and unlinks the right one.
struct BpeEncoder::Symbol {
  int32_t id;  // -1: no token (a byte without token, or a symbol merged away)
  int prev;
  int next;
};

void BpeEncoder::EncodePiece(std::string_view piece, std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    if (const int32_t id = index_.Find(ByteLevelEncode(piece)); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) {
    symbols[i] = {byte_ids_[static_cast<uint8_t>(piece[i])], static_cast<int>(i) - 1,
                  i + 1 < piece.size() ? static_cast<int>(i) + 1 : -1};
  }
  ApplyMerges(&symbols);
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    if (symbols[i].id >= 0) {
      out->push_back(symbols[i].id);
    } else if (unk_id_ >= 0) {
      out->push_back(unk_id_);
    }
  }
}

void BpeEncoder::ApplyMerges(std::vector<Symbol>* symbols_ptr) const {
  std::vector<Symbol>& symbols = *symbols_ptr;
  struct Candidate {
    int32_t rank;
    int left;
    int right;
    int32_t left_id;
    int32_t right_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    if (const Merge* m = FindMerge(symbols[left].id, symbols[right].id)) {
      queue.push({m->rank, left, right, symbols[left].id, symbols[right].id});
    }
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) push(i, i + 1);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    // Stale if either side has merged since the candidate was queued.
    if (left.next != c.right || left.id != c.left_id || right.id != c.right_id) continue;
    left.id = FindMerge(c.left_id, c.right_id)->result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    right = {-1, -1, -1};
    push(left.prev, c.left);
    push(c.left, left.next);
  }
}

}  // namespace hobbit::runtime::internal
