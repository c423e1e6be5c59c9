// CLIP's byte-level BPE tokenizer, as the original simple_tokenizer.py: text
// clean-up (HTML unescaped, whitespace collapsed, lower-cased), the
// pre-tokenisation pattern with Unicode letter and number classes (utf8proc),
// bytes mapped to printable characters, BPE merges from bpe_simple_vocab_16e6.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace fomo::core {

namespace fs = std::filesystem;

class ClipTokenizer {
 public:
  // Reads the gzipped merges file; throws fomo::Error naming it when unreadable.
  explicit ClipTokenizer(const fs::path& merges_gz);
  // The tokenizer over the vocabulary shipped with fomo (data/clip-bpe).
  static const ClipTokenizer& Default();
  static fs::path DefaultVocabPath();

  // BPE ids of text, without start and end tokens.
  std::vector<int64_t> Encode(const std::string& text) const;
  // The model input: start token, ids, end token, cut to context keeping the end
  // token last, zero-padded to context.
  std::vector<int64_t> EncodeContext(const std::string& text, int context) const;

  int64_t sot() const { return sot_; }
  int64_t eot() const { return eot_; }
  size_t vocab_size() const { return encoder_.size(); }
  // Tokens in id order (byte-level strings, "</w>" ends a word), and the merges
  // in rank order ("first second"): what Hugging Face's vocab.json and merges.txt hold.
  const std::vector<std::string>& vocabulary() const { return vocabulary_; }
  const std::vector<std::string>& merges() const { return merges_; }

 private:
  const std::vector<int64_t>& Bpe(const std::string& token) const;

  std::array<std::string, 256> byte_encoder_;
  std::unordered_map<std::string, int64_t> encoder_;
  std::unordered_map<std::string, int> ranks_;  // "first second" -> merge rank
  std::vector<std::string> vocabulary_;
  std::vector<std::string> merges_;
  int64_t sot_ = 0;
  int64_t eot_ = 0;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

// The clean-up CLIP applies before tokenising (ftfy aside): HTML entities
// unescaped twice, whitespace runs collapsed to one space, trimmed, lower-cased.
std::string CleanCaption(const std::string& text);

}  // namespace fomo::core
