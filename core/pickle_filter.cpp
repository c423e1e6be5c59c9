#include "core/pickle_filter.hpp"

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::core {

namespace {

// What a stack slot holds, as far as the filter cares, and where in the input the
// opcodes that made it begin (where a MARK can be inserted in front of it).
enum class Kind : uint8_t { kOther, kMark, kOrderedDictClass, kOrderedDictArgs, kOrderedDict };
struct Slot {
  Kind kind = Kind::kOther;
  size_t start = 0;
};

// Globals LibTorch's unpickler rebuilds itself, without running anything.
bool IsAllowedGlobal(const std::string& module, const std::string& name) {
  if (module == "torch._utils") return name == "_rebuild_tensor_v2";
  if (module == "torch") {
    return name == "device" || (name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0);
  }
  if (module == "torch.jit._pickle") return true;  // typed containers of TorchScript's own pickler
  return module == "builtins" && name == "complex";
}

// Deep nesting is refused before it can exhaust anything.
constexpr size_t kMaxStack = 1u << 20;
// The key under which an OrderedDict's attributes land in the dict itself.
const char kAttributesKey[] = "fomo:attributes";

// LibTorch's unpickler lacks POP, SETITEM and APPEND; what it has (MARK, SETITEMS,
// APPENDS) does the same when a MARK stands in front of the item. The walk runs
// twice: the first finds where MARKs go, the second writes the output.
class Filter {
 public:
  Filter(const std::string& in, const std::map<size_t, std::string>* inserts) : in_(in), inserts_(inserts) {}

  std::string Run() {
    while (pos_ < in_.size()) {
      if (inserts_) {
        if (auto it = inserts_->find(pos_); it != inserts_->end()) out_ += it->second;
      }
      op_start_ = pos_;
      const uint8_t op = static_cast<uint8_t>(in_[pos_++]);
      if (op == '.') {
        out_.push_back('.');
        return out_;
      }
      Step(op);
      if (stack_.size() > kMaxStack) Fail("nesting too deep");
    }
    Fail("the pickle ends without STOP");
  }

  const std::map<size_t, std::string>& found_inserts() const { return found_; }

 private:
  [[noreturn]] void Fail(const std::string& why) const {
    throw Error(fmt::format("cannot read the pickle at byte {}: {}", op_start_, why));
  }

  void Need(size_t n) const {
    if (in_.size() - pos_ < n) Fail("truncated");
  }
  uint64_t Little(size_t n) {
    Need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }
  std::string Line() {
    size_t end = in_.find('\n', pos_);
    if (end == std::string::npos) Fail("truncated line");
    std::string s = in_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  uint64_t LineNumber() {
    std::string s = Line();
    char* end = nullptr;
    uint64_t v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end) Fail(fmt::format("'{}' is not a memo index", s));
    return v;
  }
  void Skip(uint64_t n) {
    Need(n);
    pos_ += n;
  }

  void Copy() { out_.append(in_, op_start_, pos_ - op_start_); }
  void InsertMarkBefore(const Slot& slot, const std::string& extra = "") { found_[slot.start] += "(" + extra; }

  Slot Pop() {
    if (stack_.empty()) Fail("stack underflow");
    Slot s = stack_.back();
    stack_.pop_back();
    return s;
  }
  Slot PopToMark() {
    while (true) {
      Slot s = Pop();
      if (s.kind == Kind::kMark) return s;
    }
  }
  const Slot& Top() const {
    if (stack_.empty()) Fail("stack underflow");
    return stack_.back();
  }
  void Push(Kind kind, size_t start) { stack_.push_back({kind, start}); }
  void PushHere(Kind kind = Kind::kOther) { Push(kind, op_start_); }
  bool TopIs(Kind kind) const { return !stack_.empty() && stack_.back().kind == kind; }

  // A memo write of the OrderedDict stand-in is dropped (nothing stands for it in
  // the output); LibTorch fills skipped memo slots with None.
  void Memo(uint64_t id) {
    memo_[id] = Top().kind;
    if (Top().kind != Kind::kOrderedDictClass) Copy();
  }
  void Recall(uint64_t id) {
    auto it = memo_.find(id);
    if (it == memo_.end()) Fail(fmt::format("memo {} read before it was written", id));
    PushHere(it->second);
    if (it->second != Kind::kOrderedDictClass) Copy();
  }

  void Step(uint8_t op) {
    switch (op) {
      case 0x80: Skip(1); Copy(); return;  // PROTO
      case 0x95: Skip(8); return;          // FRAME: dropped (lengths change)
      case 'c': {                          // GLOBAL
        std::string module = Line(), name = Line();
        if (module == "collections" && name == "OrderedDict") {
          PushHere(Kind::kOrderedDictClass);  // written as nothing; its construction becomes a dict
          return;
        }
        if (!IsAllowedGlobal(module, name)) {
          throw Error(fmt::format("the pickle names the global '{}.{}', which is not a tensor, a storage or a plain "
                                  "container (nothing was executed)",
                                  module, name));
        }
        Copy();
        PushHere();
        return;
      }
      case 'R':     // REDUCE
      case 0x81: {  // NEWOBJ
        Slot args = Pop();
        Slot callable = Pop();
        if (callable.kind == Kind::kOrderedDictClass) {
          if (args.kind != Kind::kOrderedDictArgs) Fail("an OrderedDict built from arguments");
          out_.push_back('}');
          Push(Kind::kOrderedDict, callable.start);
        } else {
          Copy();
          Push(Kind::kOther, callable.start);
        }
        return;
      }
      case 'b': {  // BUILD
        Slot state = Pop();
        if (Top().kind == Kind::kOrderedDict) {
          // A state dict's _metadata: kept as one more entry, which the reader skips.
          std::string key = kAttributesKey;
          std::string binunicode = "X";
          for (int i = 0; i < 4; ++i) binunicode.push_back(static_cast<char>((key.size() >> (8 * i)) & 0xff));
          InsertMarkBefore(state, binunicode + key);
          out_.push_back('u');
        } else {
          Copy();
        }
        return;
      }
      case 'q': Memo(Little(1)); return;        // BINPUT
      case 'r': Memo(Little(4)); return;        // LONG_BINPUT
      case 'p': Memo(LineNumber()); return;     // PUT
      case 'h': Recall(Little(1)); return;      // BINGET
      case 'j': Recall(Little(4)); return;      // LONG_BINGET
      case 'g': Recall(LineNumber()); return;   // GET
      case '(': PushHere(Kind::kMark); Copy(); return;  // MARK
      case 'u': case 'e':                       // SETITEMS APPENDS
        PopToMark();
        Copy();
        return;
      case 't': case 'l': case 'd': {           // TUPLE LIST DICT
        Slot mark = PopToMark();
        Push(Kind::kOther, mark.start);
        Copy();
        return;
      }
      case 's': {  // SETITEM: MARK key value SETITEMS
        Pop();
        Slot key = Pop();
        InsertMarkBefore(key);
        out_.push_back('u');
        return;
      }
      case 'a': {  // APPEND: MARK item APPENDS
        Slot item = Pop();
        InsertMarkBefore(item);
        out_.push_back('e');
        return;
      }
      case 0x85: {  // TUPLE1
        Slot a = Pop();
        Push(Kind::kOther, a.start);
        Copy();
        return;
      }
      case 0x86: {  // TUPLE2
        Pop();
        Slot a = Pop();
        Push(Kind::kOther, a.start);
        Copy();
        return;
      }
      case 0x87: {  // TUPLE3
        Pop();
        Pop();
        Slot a = Pop();
        Push(Kind::kOther, a.start);
        Copy();
        return;
      }
      case 'Q': {  // BINPERSID
        Slot a = Pop();
        Push(Kind::kOther, a.start);
        Copy();
        return;
      }
      case ')':  // EMPTY_TUPLE: the arguments of an OrderedDict are written as nothing
        if (TopIs(Kind::kOrderedDictClass)) {
          PushHere(Kind::kOrderedDictArgs);
          return;
        }
        PushHere();
        Copy();
        return;
      // Values with no argument.
      case 'N': case 0x88: case 0x89: case ']': case '}':
        PushHere();
        Copy();
        return;
      // Values with fixed-size arguments.
      case 'K': Skip(1); break;
      case 'M': Skip(2); break;
      case 'J': Skip(4); break;
      case 'G': Skip(8); break;
      // Values with a length prefix.
      case 0x8a: case 0x8c: case 'C': case 'U': Skip(Little(1)); break;
      case 0x8b: case 'X': case 'B': case 'T': Skip(Little(4)); break;
      case 0x8d: case 0x8e: Skip(Little(8)); break;
      // Values on a line.
      case 'I': case 'L': case 'F': case 'S': case 'V': Line(); break;
      case 0x93: Fail("STACK_GLOBAL (pickle protocol 4 or later) is not read; save with torch.save's default protocol");
      default:
        Fail(fmt::format("opcode 0x{:02x} is not one torch.save writes", op));
    }
    PushHere();
    Copy();
  }

  const std::string& in_;
  const std::map<size_t, std::string>* inserts_;
  size_t pos_ = 0;
  size_t op_start_ = 0;
  std::string out_;
  std::vector<Slot> stack_;
  std::unordered_map<uint64_t, Kind> memo_;
  std::map<size_t, std::string> found_;
};

}  // namespace

std::string FilterTorchPickle(const std::string& pickle) {
  Filter first(pickle, nullptr);
  first.Run();
  return Filter(pickle, &first.found_inserts()).Run();
}

bool IsFilterAttributesKey(const std::string& key) { return key == kAttributesKey; }

}  // namespace fomo::core
