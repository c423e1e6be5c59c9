#include "core/tokenizer.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "core/gzip_file.hpp"
#include "storage/error.hpp"

namespace fomo::core {

namespace {

constexpr int kMergeCount = 49152 - 256 - 2;
const char* const kStartToken = "<|startoftext|>";
const char* const kEndToken = "<|endoftext|>";

std::string EncodeUtf8(int32_t codepoint) {
  uint8_t buf[4];
  auto n = utf8proc_encode_char(codepoint, buf);
  return std::string(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
}

// Decodes UTF-8 into code points; invalid bytes become U+FFFD, as Python's
// decode(errors="replace") does.
std::vector<int32_t> DecodeUtf8(const std::string& text) {
  std::vector<int32_t> out;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {
      out.push_back(0xFFFD);
      n = 1;
    } else {
      out.push_back(cp);
    }
    p += n;
    left -= n;
  }
  return out;
}

std::string EncodeUtf8(const std::vector<int32_t>& cps, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) out += EncodeUtf8(cps[i]);
  return out;
}

bool IsLetter(int32_t cp) {
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return true;
    default:
      return false;
  }
}

bool IsNumber(int32_t cp) {
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

// Python's str.isspace() / regex \s.
bool IsSpace(int32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F) || cp == 0x85) return true;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
      return true;
    default:
      return false;
  }
}

// The printable stand-ins CLIP uses for the 256 byte values (bytes_to_unicode).
std::array<int32_t, 256> BytesToUnicode() {
  std::array<int32_t, 256> table{};
  std::array<bool, 256> direct{};
  for (int b = '!'; b <= '~'; ++b) direct[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
  int extra = 0;
  for (int b = 0; b < 256; ++b) table[b] = direct[b] ? b : 256 + extra++;
  return table;
}

std::string HtmlUnescape(const std::string& text) {
  static const std::pair<const char*, const char*> kNamed[] = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", "\xC2\xA0"},
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    size_t semi = text.find(';', i + 1);
    if (semi != std::string::npos && semi - i <= 10) {
      std::string name = text.substr(i + 1, semi - i - 1);
      if (name.size() > 1 && name[0] == '#') {
        bool hex = name[1] == 'x' || name[1] == 'X';
        std::string digits = name.substr(hex ? 2 : 1);
        char* end = nullptr;
        long cp = digits.empty() ? -1 : std::strtol(digits.c_str(), &end, hex ? 16 : 10);
        if (end && *end == '\0' && cp > 0 && cp <= 0x10FFFF) {
          out += EncodeUtf8(static_cast<int32_t>(cp));
          i = semi;
          continue;
        }
      }
      bool replaced = false;
      for (const auto& [entity, value] : kNamed) {
        if (name == entity) {
          out += value;
          i = semi;
          replaced = true;
          break;
        }
      }
      if (replaced) continue;
    }
    out += '&';
  }
  return out;
}

}  // namespace

std::string CleanCaption(const std::string& text) {
  std::vector<int32_t> cps = DecodeUtf8(HtmlUnescape(HtmlUnescape(text)));
  std::string out;
  bool pending_space = false;
  for (int32_t cp : cps) {
    if (IsSpace(cp)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += EncodeUtf8(utf8proc_tolower(cp));
  }
  return out;
}

ClipTokenizer::ClipTokenizer(const fs::path& merges_gz) {
  std::string text = ReadMaybeGzipped(merges_gz);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (lines.size() < static_cast<size_t>(kMergeCount) + 1) {
    throw Error(fmt::format("BPE vocabulary '{}' has {} lines, expected at least {}", merges_gz.string(),
                            lines.size(), kMergeCount + 1));
  }
  std::array<int32_t, 256> table = BytesToUnicode();
  std::vector<std::string> vocab;
  for (int b = 0; b < 256; ++b) byte_encoder_[b] = EncodeUtf8(table[b]);
  // Vocabulary order as CLIP builds it: bytes_to_unicode's values list the bytes
  // that map to themselves first, then the shifted ones.
  std::vector<std::string> symbols;
  for (int b = 0; b < 256; ++b) {
    if (table[b] == b) symbols.push_back(byte_encoder_[b]);
  }
  for (int b = 0; b < 256; ++b) {
    if (table[b] != b) symbols.push_back(byte_encoder_[b]);
  }
  for (const auto& s : symbols) vocab.push_back(s);
  for (const auto& s : symbols) vocab.push_back(s + "</w>");
  for (int i = 0; i < kMergeCount; ++i) {
    const std::string& line = lines[1 + i];
    size_t space = line.find(' ');
    if (space == std::string::npos) {
      throw Error(fmt::format("BPE vocabulary '{}': line {} is not a merge", merges_gz.string(), i + 2));
    }
    ranks_[line] = i;
    merges_.push_back(line);
    vocab.push_back(line.substr(0, space) + line.substr(space + 1));
  }
  vocab.push_back(kStartToken);
  vocab.push_back(kEndToken);
  for (size_t i = 0; i < vocab.size(); ++i) encoder_[vocab[i]] = static_cast<int64_t>(i);
  vocabulary_ = std::move(vocab);
  sot_ = encoder_.at(kStartToken);
  eot_ = encoder_.at(kEndToken);
  cache_[kStartToken] = {sot_};
  cache_[kEndToken] = {eot_};
}

fs::path ClipTokenizer::DefaultVocabPath() {
  const char* env = std::getenv("FOMO_DATA_DIR");
  std::vector<fs::path> candidates;
  if (env && *env) candidates.emplace_back(env);
  candidates.emplace_back(FOMO_SOURCE_DATA_DIR);
  candidates.emplace_back(FOMO_INSTALL_DATA_DIR);
  for (const auto& dir : candidates) {
    fs::path path = dir / "clip-bpe" / "bpe_simple_vocab_16e6.txt.gz";
    if (fs::exists(path)) return path;
  }
  throw Error("cannot find the CLIP BPE vocabulary (clip-bpe/bpe_simple_vocab_16e6.txt.gz); set FOMO_DATA_DIR");
}

const ClipTokenizer& ClipTokenizer::Default() {
  static const ClipTokenizer tokenizer(DefaultVocabPath());
  return tokenizer;
}

const std::vector<int64_t>& ClipTokenizer::Bpe(const std::string& token) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(token);
    if (it != cache_.end()) return it->second;
  }
  // Symbols: the token's characters, the last one marked as a word end.
  std::vector<int32_t> cps = DecodeUtf8(token);
  std::vector<std::string> word;
  for (size_t i = 0; i < cps.size(); ++i) word.push_back(EncodeUtf8(cps[i]));
  if (!word.empty()) word.back() += "</w>";
  while (word.size() > 1) {
    int best = std::numeric_limits<int>::max();
    size_t best_at = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks_.find(word[i] + " " + word[i + 1]);
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        best_at = i;
      }
    }
    if (best == std::numeric_limits<int>::max()) break;
    const std::string first = word[best_at], second = word[best_at + 1];
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i]);
        ++i;
      }
    }
    word = std::move(merged);
  }
  std::vector<int64_t> ids;
  for (const auto& symbol : word) {
    auto it = encoder_.find(symbol);
    if (it == encoder_.end()) throw Error(fmt::format("BPE produced unknown symbol '{}'", symbol));
    ids.push_back(it->second);
  }
  std::lock_guard<std::mutex> lock(cache_mutex_);
  return cache_.emplace(token, std::move(ids)).first->second;
}

std::vector<int64_t> ClipTokenizer::Encode(const std::string& text) const {
  const std::string clean = CleanCaption(text);
  const std::vector<int32_t> cps = DecodeUtf8(clean);
  std::vector<int64_t> ids;
  auto emit = [&](size_t begin, size_t end) {
    std::string piece = EncodeUtf8(cps, begin, end);
    std::string mapped;
    if (piece == kStartToken || piece == kEndToken) {
      mapped = piece;
    } else {
      for (unsigned char byte : piece) mapped += byte_encoder_[byte];
    }
    const auto& token_ids = Bpe(mapped);
    ids.insert(ids.end(), token_ids.begin(), token_ids.end());
  };
  auto starts_with = [&](size_t at, const std::string& s) {
    std::vector<int32_t> want = DecodeUtf8(s);
    if (at + want.size() > cps.size()) return false;
    for (size_t k = 0; k < want.size(); ++k) {
      if (cps[at + k] != want[k]) return false;
    }
    return true;
  };
  // The pattern's literal alternatives, in its order: special tokens, contractions.
  static const char* const kLiterals[] = {kStartToken, kEndToken, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  size_t i = 0;
  while (i < cps.size()) {
    bool matched = false;
    for (const char* literal : kLiterals) {
      std::string s = literal;
      if (starts_with(i, s)) {
        emit(i, i + s.size());
        i += s.size();
        matched = true;
        break;
      }
    }
    if (matched) continue;
    size_t j = i;
    if (IsLetter(cps[i])) {
      while (j < cps.size() && IsLetter(cps[j])) ++j;
    } else if (IsNumber(cps[i])) {
      j = i + 1;
    } else if (!IsSpace(cps[i])) {
      while (j < cps.size() && !IsSpace(cps[j]) && !IsLetter(cps[j]) && !IsNumber(cps[j])) ++j;
    } else {
      ++i;
      continue;
    }
    emit(i, j);
    i = j;
  }
  return ids;
}

std::vector<int64_t> ClipTokenizer::EncodeContext(const std::string& text, int context) const {
  if (context < 2) throw Error(fmt::format("context length {} is too short for start and end tokens", context));
  std::vector<int64_t> ids = Encode(text);
  std::vector<int64_t> out(static_cast<size_t>(context), 0);
  out[0] = sot_;
  size_t body = std::min(ids.size(), static_cast<size_t>(context) - 2);
  std::copy(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(body), out.begin() + 1);
  out[body + 1] = eot_;
  return out;
}

}  // namespace fomo::core
