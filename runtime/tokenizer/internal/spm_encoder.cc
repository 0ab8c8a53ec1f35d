#include "runtime/tokenizer/internal/spm_encoder.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <queue>

#include "runtime/tokenizer/internal/utf8.h"

namespace hobbit::runtime::internal {

SpmEncoder::SpmEncoder(const TokenizerVocab& vocab, const TokenIndex& index)
    : vocab_(vocab), index_(index) {
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    const int32_t id = index.Find(name);
    const bool is_byte =
        id >= 0 && (vocab.token_types.empty() ||
                    vocab.token_types[id] == static_cast<int32_t>(TokenType::kByte));
    byte_ids_[b] = is_byte ? id : -1;
  }
}

int32_t SpmEncoder::FindPiece(std::string_view text) const {
  const int32_t id = index_.Find(text);
  if (id < 0 || vocab_.token_types.empty()) return id;
  const auto type = static_cast<TokenType>(vocab_.token_types[id]);
  const bool mergeable = type == TokenType::kNormal || type == TokenType::kUserDefined ||
                         type == TokenType::kUndefined;
  return mergeable ? id : -1;
}

void SpmEncoder::EmitUnknown(std::string_view text, std::vector<int32_t>* out) const {
  bool all_bytes = true;
  for (char c : text) all_bytes = all_bytes && byte_ids_[static_cast<uint8_t>(c)] >= 0;
  if (all_bytes) {
    for (char c : text) out->push_back(byte_ids_[static_cast<uint8_t>(c)]);
  } else if (vocab_.unk_id >= 0) {
    out->push_back(vocab_.unk_id);
  }
}

// Symbols are byte ranges of the text in a linked list; a merge grows the left symbol.
struct SpmEncoder::Symbol {
  size_t start;
  size_t length;  // 0 once merged into its left neighbour
  int prev;
  int next;
};

float SpmEncoder::Score(int32_t id) const {
  const float score = vocab_.scores.empty() ? 0.0f : vocab_.scores[id];
  // NaN would break the queue's strict ordering.
  return std::isnan(score) ? -std::numeric_limits<float>::infinity() : score;
}

void SpmEncoder::Encode(std::string_view text, std::vector<int32_t>* out) const {
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = DecodeUtf8Char(text, pos).length;
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({pos, length, index - 1, pos + length < text.size() ? index + 1 : -1});
    pos += length;
  }
  ApplyMerges(text, &symbols);
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = text.substr(symbols[i].start, symbols[i].length);
    if (const int32_t id = FindPiece(piece); id >= 0) {
      out->push_back(id);
    } else {
      EmitUnknown(piece, out);
    }
  }
}

void SpmEncoder::ApplyMerges(std::string_view text, std::vector<Symbol>* symbols_ptr) const {
  std::vector<Symbol>& symbols = *symbols_ptr;
  // 16 bytes: the queue is the hot data structure for long inputs.
  struct Candidate {
    float score;
    int32_t left;
    int32_t right;
    uint32_t length;  // bytes of the merged text, to detect candidates made stale by a merge
    bool operator<(const Candidate& o) const {
      return score != o.score ? score < o.score : left > o.left;
    }
  };
  std::vector<Candidate> storage;
  storage.reserve(symbols.size() * 2);
  std::priority_queue<Candidate> queue(std::less<Candidate>(), std::move(storage));
  auto push = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t length = symbols[left].length + symbols[right].length;
    const int32_t id = FindPiece(text.substr(symbols[left].start, length));
    if (id >= 0) queue.push({Score(id), left, right, static_cast<uint32_t>(length)});
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) push(i, i + 1);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    // Both symbols start where they did when queued, so adjacency plus the total length
    // identifies the same text.
    if (left.next != c.right || left.length == 0 || right.length == 0 ||
        left.length + right.length != c.length) {
      continue;
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    push(left.prev, c.left);
    push(c.left, left.next);
  }
}

}  // namespace hobbit::runtime::internal
