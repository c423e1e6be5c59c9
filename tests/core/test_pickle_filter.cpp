// The pickle filter in front of LibTorch's unpickler: OrderedDicts become dicts,
// foreign globals are refused by name, and malformed input gets an error.
#include "catch.hpp"
#include "core/pickle_filter.hpp"
#include "storage/error.hpp"

using fomo::core::FilterTorchPickle;

namespace {

std::string Bytes(std::initializer_list<std::string> parts) {
  std::string out;
  for (const auto& p : parts) out += p;
  return out;
}

const std::string kProto2 = "\x80\x02";
// BINUNICODE 'a'
const std::string kKeyA = std::string("X\x01\x00\x00\x00", 5) + "a";

}  // namespace

TEST_CASE("an OrderedDict becomes a dict, its single item a SETITEMS", "[pickle]") {
  // OrderedDict() memoised, then od['a'] = 1 (SETITEM), as protocol 2 writes it.
  const std::string in = Bytes({kProto2, "ccollections\nOrderedDict\n", std::string("q\0", 2), ")", "R", "q\x01", kKeyA, "K\x01", "s", "."});
  // The class, its memo entry and its arguments vanish; a MARK goes before the key.
  const std::string out = Bytes({kProto2, "}", "q\x01", "(", kKeyA, "K\x01", "u", "."});
  REQUIRE(FilterTorchPickle(in) == out);
}

TEST_CASE("an OrderedDict's attributes (BUILD) become an entry the reader skips", "[pickle]") {
  // OrderedDict(); SETITEMS {'a': 1}; BUILD with state {} (the _metadata).
  const std::string in = Bytes({kProto2, "ccollections\nOrderedDict\n", std::string("q\0", 2), ")", "R", "q\x01", "(", kKeyA, "K\x01",
                                "u", "}", "q\x02", "b", "."});
  const std::string key = "fomo:attributes";
  const std::string binunicode = std::string("X\x0f\x00\x00\x00", 5) + key;
  const std::string out = Bytes({kProto2, "}", "q\x01", "(", kKeyA, "K\x01", "u", "(", binunicode, "}", "q\x02", "u", "."});
  REQUIRE(FilterTorchPickle(in) == out);
  REQUIRE(fomo::core::IsFilterAttributesKey(key));
}

TEST_CASE("a memoised OrderedDict class used again is rewritten there too", "[pickle]") {
  const std::string in = Bytes({kProto2, "]", std::string("q\0", 2), "(", "ccollections\nOrderedDict\n", "q\x01", ")", "R", "q\x02",
                                "h\x01", ")", "R", "q\x03", "e", "."});
  const std::string out = Bytes({kProto2, "]", std::string("q\0", 2), "(", "}", "q\x02", "}", "q\x03", "e", "."});
  REQUIRE(FilterTorchPickle(in) == out);
}

TEST_CASE("tensor rebuilds and storages pass unchanged", "[pickle]") {
  const std::string in = Bytes({kProto2, "ctorch._utils\n_rebuild_tensor_v2\n", std::string("q\0", 2), "(", "ctorch\nFloatStorage\n",
                                "q\x01", ")", "t", "R", "."});
  REQUIRE(FilterTorchPickle(in) == in);
}

TEST_CASE("foreign globals are refused by name before anything runs", "[pickle]") {
  REQUIRE_THROWS_WITH(FilterTorchPickle(Bytes({kProto2, "cos\nsystem\n", std::string("q\0", 2), "."})),
                      HasSubstr("'os.system'") && HasSubstr("nothing was executed"));
  REQUIRE_THROWS_WITH(FilterTorchPickle(Bytes({kProto2, "cbuiltins\neval\n", "."})), HasSubstr("'builtins.eval'"));
  REQUIRE_THROWS_WITH(FilterTorchPickle(Bytes({kProto2, "ctorch._utils\n_rebuild_parameter\n", "."})),
                      HasSubstr("torch._utils._rebuild_parameter"));
}

TEST_CASE("malformed pickles get an error, not a crash", "[pickle]") {
  REQUIRE_THROWS_WITH(FilterTorchPickle(""), HasSubstr("ends without STOP"));
  REQUIRE_THROWS_WITH(FilterTorchPickle(kProto2 + "X\xff\xff\xff\x7f"), HasSubstr("truncated"));
  REQUIRE_THROWS_WITH(FilterTorchPickle(kProto2 + "s."), HasSubstr("stack underflow"));
  REQUIRE_THROWS_WITH(FilterTorchPickle(kProto2 + "h\x05."), HasSubstr("memo 5 read before"));
  REQUIRE_THROWS_WITH(FilterTorchPickle(kProto2 + "\x93."), HasSubstr("STACK_GLOBAL"));
  REQUIRE_THROWS_WITH(FilterTorchPickle(kProto2 + "i."), HasSubstr("opcode 0x69"));
  REQUIRE_THROWS_WITH(FilterTorchPickle(kProto2 + std::string(2'000'000, '(') + "."), HasSubstr("nesting too deep"));
  REQUIRE_THROWS_WITH(FilterTorchPickle(kProto2 + "ccollections\nOrderedDict\nK\x01R."),
                      HasSubstr("an OrderedDict built from arguments"));
}
