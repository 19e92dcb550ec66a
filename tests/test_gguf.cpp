// The GGUF reader and writer: round trips of every metadata type, and malformed files of every kind giving a
// clear status and message, never a crash (the suite also runs under ASan and UBSan).
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "hearth.h"
#include "test_util.h"

using namespace hearth;

namespace {

// Builds GGUF bytes by hand, independently of gguf_writer, so odd files can be made.
struct builder {
  std::vector<uint8_t> b;
  template <class T>
  builder &num(T v) {
    // (byte by byte: GCC 12 reports a false -Wstringop-overflow for an inlined insert or resize)
    uint8_t bytes[sizeof v];
    std::memcpy(bytes, &v, sizeof v);
    for (uint8_t c : bytes) b.push_back(c);
    return *this;
  }
  builder &str(const std::string &s) {
    num<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  builder &raw(const char *s, size_t n) {
    for (size_t i = 0; i < n; ++i) b.push_back((uint8_t)s[i]);
    return *this;
  }
  builder &pad(size_t align) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
};

// A valid file: 2 kv (u32, string) and one F32 tensor [8, 2].
builder valid_file(uint32_t version = 3) {
  builder f;
  f.raw("GGUF", 4).num<uint32_t>(version).num<uint64_t>(1).num<uint64_t>(2);
  f.str("a.u32").num<uint32_t>(4).num<uint32_t>(7);
  f.str("a.str").num<uint32_t>(8).str("hello");
  f.str("t").num<uint32_t>(2).num<uint64_t>(8).num<uint64_t>(2).num<uint32_t>(0).num<uint64_t>(0);
  f.pad(32);
  for (int i = 0; i < 16; ++i) f.num<float>((float)i);
  return f;
}

hearth_status open_status(const std::vector<uint8_t> &bytes, std::string *msg = nullptr) {
  const std::string path = test::temp_path("bad.gguf");
  test::write_file(path, bytes);
  try {
    gguf_file::open(path);
    return HEARTH_OK;
  } catch (const error &e) {
    if (msg) *msg = e.what();
    return e.status();
  }
}

}  // namespace

TEST_CASE("hand-built v2 and v3 files read back exactly") {
  for (uint32_t v : {2u, 3u}) {
    const std::string path = test::temp_path("ok.gguf");
    test::write_file(path, valid_file(v).b);
    const auto f = gguf_file::open(path);
    CHECK(f->version() == v);
    CHECK(f->get_uint("a.u32", 0) == 7);
    CHECK(f->get_string("a.str", "") == "hello");
    REQUIRE(f->tensors().size() == 1);
    const gguf_tensor &t = f->tensors()[0];
    CHECK(t.ne[0] == 8);
    CHECK(t.ne[1] == 2);
    CHECK(t.size == 64);
    float x;
    std::memcpy(&x, t.data + 4 * 13, 4);
    CHECK(x == 13.0f);
  }
}

TEST_CASE("the writer round-trips every metadata type, PWRI magic and tensor data") {
  gguf_writer w;
  w.set_pwri(true);
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -5);
  w.set_u64("u64", 1ull << 40);
  w.set_f32("f32", 0.5f);
  w.set_bool("bool", true);
  w.set_str("str", "h\xc3\xa9llo");
  w.set_arr_str("astr", {"a", "", "ccc"});
  w.set_arr_f32("af32", {1.5f, -2.0f});
  w.set_arr_i32("ai32", {1, -2, 3});
  const int16_t i16 = -300;
  w.set_raw("i16", gguf_type::i16, &i16, 2);
  const double f64 = 3.25;
  w.set_raw("f64", gguf_type::f64, &f64, 8);
  w.add_tensor("q", dtype::q8_0, {64, 3}, [](uint8_t *d, size_t n) { for (size_t i = 0; i < n; ++i) d[i] = (uint8_t)i; });
  w.add_tensor("v", dtype::f32, {5}, [](uint8_t *d, size_t n) { std::memset(d, 0x3f, n); });
  const std::string path = test::temp_path("rt.gguf");
  w.write(path);
  const auto f = gguf_file::open(path);
  CHECK(f->pwri());
  CHECK(f->get_uint("u32", 0) == 4000000000u);
  CHECK(f->find("i32")->i == -5);
  CHECK(f->get_uint("u64", 0) == (1ull << 40));
  CHECK(f->get_float("f32", 0) == 0.5);
  CHECK(f->get_bool("bool", false));
  CHECK(f->get_string("str", "") == "h\xc3\xa9llo");
  CHECK(f->find("astr")->arr_strings.size() == 3);
  CHECK(f->find("astr")->arr_strings[2] == "ccc");
  CHECK(f->find("af32")->arr<float>(1) == -2.0f);
  CHECK(f->find("ai32")->arr<int32_t>(1) == -2);
  CHECK(f->find("i16")->i == -300);
  CHECK(f->get_float("f64", 0) == 3.25);
  const gguf_tensor *q = f->tensor("q");
  REQUIRE(q);
  CHECK(q->size == 3 * 2 * 34);
  CHECK(q->data[100] == 100);
  CHECK((uintptr_t)(q->data - f->map().data()) % 32 == 0);
  CHECK(f->tensor("v")->data[19] == 0x3f);
  CHECK_THROWS_AS(f->get_string("u32", ""), error);  // wrong type is a format error

  // Copying every value into a new file with set_value gives the same metadata bytes.
  gguf_writer copy;
  copy.set_pwri(true);
  for (const gguf_kv &kv : f->kvs()) copy.set_value(kv.key, kv.value);
  copy.add_tensor("q", dtype::q8_0, {64, 3}, [](uint8_t *d, size_t n) { for (size_t i = 0; i < n; ++i) d[i] = (uint8_t)i; });
  copy.add_tensor("v", dtype::f32, {5}, [](uint8_t *d, size_t n) { std::memset(d, 0x3f, n); });
  const std::string path2 = test::temp_path("rt2.gguf");
  copy.write(path2);
  CHECK(test::read_file(path2) == test::read_file(path));
}

TEST_CASE("the writer replaces a file only when it finishes: a cancel keeps the old one, and its readers keep theirs") {
  auto one_tensor = [](uint8_t byte) {
    gguf_writer w;
    w.set_u32("version", byte);
    w.add_tensor("t", dtype::f32, {1024}, [byte](uint8_t *d, size_t n) { std::memset(d, byte, n); });
    w.add_tensor("u", dtype::f32, {8}, [byte](uint8_t *d, size_t n) { std::memset(d, byte, n); });
    return w;
  };
  const std::string path = test::temp_path("replaced.gguf");
  one_tensor(1).write(path);
  const std::vector<uint8_t> first = test::read_file(path);
  // cancelled after the first of two tensors: the old file is whole and no partial file is left
  size_t calls = 0;
  CHECK_THROWS_AS(one_tensor(2).write(path, [&](size_t, size_t) { return ++calls < 1; }), error);
  CHECK(calls == 1);
  CHECK(test::read_file(path) == first);
  CHECK(!std::filesystem::exists(path + ".partial"));
#ifndef _WIN32
  // POSIX: a finished write replaces the file while a reader maps the old one, and the reader's bytes stay the
  // old ones (an in-place truncation would fault them). Windows refuses to replace a mapped file: not tested there.
  const auto reader = gguf_file::open(path);
  one_tensor(3).write(path);
  CHECK(reader->tensor("t")->data[4095] == 1);
  CHECK(reader->get_uint("version", 0) == 1);
  CHECK(gguf_file::open(path)->get_uint("version", 0) == 3);
  CHECK(gguf_file::open(path)->tensor("t")->data[4095] == 3);
#endif
  // an unwritable destination names the path
  try {
    one_tensor(4).write(test::temp_path("no-such-dir") + "/x.gguf");
    FAIL("writing into a missing directory succeeded");
  } catch (const error &e) {
    CHECK(e.status() == HEARTH_ERR_IO);
    CHECK(std::string(e.what()).find("no-such-dir") != std::string::npos);
  }
}

TEST_CASE("a file truncated anywhere before its last tensor's data ends fails cleanly") {
  const std::vector<uint8_t> full = valid_file().b;
  const size_t data_end = full.size();  // the tensor ends exactly at the end
  for (size_t n = 0; n < data_end; ++n) {
    std::string msg;
    const hearth_status st = open_status({full.begin(), full.begin() + (long)n}, &msg);
    CAPTURE(n);
    CHECK(st == HEARTH_ERR_BAD_FORMAT);
    CHECK(!msg.empty());
  }
  CHECK(open_status(full) == HEARTH_OK);
}

TEST_CASE("malformed headers give clear errors") {
  std::string msg;
  auto with = [](auto edit) {
    builder f = valid_file();
    edit(f.b);
    return f.b;
  };
  // magic and version
  CHECK(open_status(with([](auto &b) { b[0] = 'X'; }), &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(msg.find("magic") != std::string::npos);
  CHECK(open_status(with([](auto &b) { b[4] = 1; }), &msg) == HEARTH_ERR_UNSUPPORTED);
  CHECK(open_status(with([](auto &b) { b[4] = 9; }), &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(open_status(with([](auto &b) { b[4] = 0; b[7] = 3; }), &msg) == HEARTH_ERR_UNSUPPORTED);  // big-endian
  // absurd counts
  CHECK(open_status(with([](auto &b) { b[15] = 0x10; }), &msg) == HEARTH_ERR_BAD_FORMAT);  // n_tensors ~ 2^60
  CHECK(msg.find("tensor count") != std::string::npos);
  CHECK(open_status(with([](auto &b) { b[23] = 0x10; }), &msg) == HEARTH_ERR_BAD_FORMAT);  // n_kv ~ 2^60
  // first key length absurd (offset 24)
  CHECK(open_status(with([](auto &b) { b[30] = 0x7f; }), &msg) == HEARTH_ERR_BAD_FORMAT);
  // unknown metadata type (type field of a.u32 at 24 + 8 + 5)
  CHECK(open_status(with([](auto &b) { b[37] = 13; }), &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(msg.find("unknown type") != std::string::npos);
}

TEST_CASE("malformed tensor infos give clear errors") {
  // tensor info layout after the kv: name(8+1) n_dims(4) ne0(8) ne1(8) type(4) offset(8)
  const size_t kv_end = 24 + (8 + 5 + 4 + 4) + (8 + 5 + 4 + 8 + 5);
  const size_t ndims = kv_end + 9, ne0 = ndims + 4, ne1 = ne0 + 8, type = ne1 + 8, offset = type + 4;
  auto edit = [](size_t at, std::vector<uint8_t> bytes) {
    builder f = valid_file();
    std::copy(bytes.begin(), bytes.end(), f.b.begin() + (long)at);
    return f.b;
  };
  std::string msg;
  CHECK(open_status(edit(ndims, {0}), &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(msg.find("dimensions") != std::string::npos);
  CHECK(open_status(edit(ndims, {5}), &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(open_status(edit(ne0 + 7, {0x7f}), &msg) == HEARTH_ERR_BAD_FORMAT);  // larger than the file
  CHECK(open_status(edit(ne0, {0, 0, 0, 0, 0, 0, 0, 0x40}), &msg) == HEARTH_ERR_BAD_FORMAT);  // product overflows
  CHECK(open_status(edit(ne1 + 7, {0x80}), &msg) == HEARTH_ERR_BAD_FORMAT);  // negative as int64
  // An unknown type id is kept (the file can still be described); using the tensor is refused by the loader.
  CHECK(open_status(edit(type, {99}), &msg) == HEARTH_OK);
  CHECK(open_status(edit(type, {2}), &msg) == HEARTH_ERR_BAD_FORMAT);  // Q4_0 with 8-element rows: not whole blocks
  CHECK(open_status(edit(offset, {4}), &msg) == HEARTH_ERR_BAD_FORMAT);  // misaligned
  CHECK(msg.find("aligned") != std::string::npos);
  CHECK(open_status(edit(offset, {64}), &msg) == HEARTH_ERR_BAD_FORMAT);  // past the end
  CHECK(msg.find("past the end") != std::string::npos);
}

TEST_CASE("duplicate keys and names, bad alignment, bad bools, nested arrays") {
  builder f;
  f.raw("GGUF", 4).num<uint32_t>(3).num<uint64_t>(0).num<uint64_t>(2);
  f.str("k").num<uint32_t>(4).num<uint32_t>(1);
  f.str("k").num<uint32_t>(4).num<uint32_t>(2);
  std::string msg;
  CHECK(open_status(f.b, &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(msg.find("duplicate") != std::string::npos);

  builder g;
  g.raw("GGUF", 4).num<uint32_t>(3).num<uint64_t>(0).num<uint64_t>(1);
  g.str("general.alignment").num<uint32_t>(4).num<uint32_t>(24);
  CHECK(open_status(g.b, &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(msg.find("power of two") != std::string::npos);

  builder h;
  h.raw("GGUF", 4).num<uint32_t>(3).num<uint64_t>(0).num<uint64_t>(1);
  h.str("b").num<uint32_t>(7).num<uint8_t>(2);
  CHECK(open_status(h.b, &msg) == HEARTH_ERR_BAD_FORMAT);

  builder n;
  n.raw("GGUF", 4).num<uint32_t>(3).num<uint64_t>(0).num<uint64_t>(1);
  n.str("arr").num<uint32_t>(9).num<uint32_t>(9).num<uint64_t>(1);
  CHECK(open_status(n.b, &msg) == HEARTH_ERR_BAD_FORMAT);

  builder t;
  t.raw("GGUF", 4).num<uint32_t>(3).num<uint64_t>(2).num<uint64_t>(0);
  for (int i = 0; i < 2; ++i) t.str("x").num<uint32_t>(1).num<uint64_t>(4).num<uint32_t>(0).num<uint64_t>(0);
  t.pad(32).num<uint64_t>(0).num<uint64_t>(0);
  CHECK(open_status(t.b, &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(msg.find("duplicate tensor") != std::string::npos);

  CHECK(open_status({}, &msg) == HEARTH_ERR_BAD_FORMAT);  // empty file
}

TEST_CASE("models with wrong shapes, missing tensors or unsupported content fail to load with a message") {
  const std::string good = test::synth_model(test::small_config(dtype::q8_0));
  const auto f = gguf_file::open(good);
  // Rewrites the model with one change made by `edit` to the tensor list or metadata.
  auto rewrite = [&](const std::string &drop_tensor, const std::string &reshape, dtype retype, const std::string &arch,
                     const std::string &tokenizer = "llama") {
    gguf_writer w;
    for (const gguf_kv &kv : f->kvs()) {
      if (kv.key == "general.architecture") w.set_str(kv.key, arch);
      else if (kv.key == "tokenizer.ggml.model") w.set_str(kv.key, tokenizer);
      else w.set_value(kv.key, kv.value);
    }
    for (const gguf_tensor &t : f->tensors()) {
      if (t.name == drop_tensor) continue;
      std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
      dtype ty = t.type;
      if (t.name == reshape) {
        if (retype != t.type) ty = retype;
        else ne[1] += 1;
      }
      w.add_tensor(t.name, ty, ne, nullptr);
    }
    const std::string path = test::temp_path("edited.gguf");
    w.write(path);
    return path;
  };
  auto load = [](const std::string &path, std::string *msg) {
    hearth_model *m = nullptr;
    const hearth_status st = hearth_model_load(path.c_str(), nullptr, &m);
    *msg = hearth_last_error();
    CHECK((st == HEARTH_OK) == (m != nullptr));
    hearth_model_free(m);
    return st;
  };
  std::string msg;
  CHECK(load(rewrite("", "", dtype::f32, "llama"), &msg) == HEARTH_OK);
  CHECK(load(rewrite("blk.1.attn_k.weight", "", dtype::f32, "llama"), &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(msg.find("blk.1.attn_k.weight' is missing") != std::string::npos);
  CHECK(load(rewrite("", "blk.0.attn_q.weight", dtype::q8_0, "llama"), &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(msg.find("expected") != std::string::npos);
  CHECK(load(rewrite("", "blk.0.ffn_up.weight", dtype::mxfp4, "llama"), &msg) == HEARTH_ERR_UNSUPPORTED);
  CHECK(msg.find("MXFP4") != std::string::npos);
  CHECK(load(rewrite("", "", dtype::f32, "gpt2"), &msg) == HEARTH_ERR_UNSUPPORTED);
  CHECK(msg.find("gpt2") != std::string::npos);
  // A byte-level BPE vocabulary without merges cannot tokenize: refused at load, naming what is missing.
  CHECK(load(rewrite("", "", dtype::f32, "llama", "gpt2"), &msg) == HEARTH_ERR_BAD_FORMAT);
  CHECK(msg.find("tokenizer.ggml.merges is missing") != std::string::npos);
  CHECK(load(rewrite("", "", dtype::f32, "llama", "no-such-tokenizer"), &msg) == HEARTH_ERR_UNSUPPORTED);
  CHECK(msg.find("'no-such-tokenizer' is unknown; hearth runs 'llama'") != std::string::npos);
}

TEST_CASE("a real model truncated or with flipped header bytes never crashes the loader") {
  const std::vector<uint8_t> full = test::read_file(test::synth_model(test::small_config(dtype::q4_0)));
  const std::string path = test::temp_path("cut.gguf");
  std::vector<size_t> cuts;
  for (size_t n = 0; n < 4096 && n < full.size(); n += 7) cuts.push_back(n);
  for (size_t n = 4096; n < full.size(); n += full.size() / 50) cuts.push_back(n);
  for (size_t n : cuts) {
    test::write_file(path, {full.begin(), full.begin() + (long)n});
    hearth_model *m = nullptr;
    CAPTURE(n);
    CHECK(hearth_model_load(path.c_str(), nullptr, &m) != HEARTH_OK);
    CHECK(m == nullptr);
    CHECK(std::strlen(hearth_last_error()) > 0);
  }
  std::mt19937 rng(1);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<uint8_t> b = full;
    for (int k = 0; k < 4; ++k) b[rng() % 8192] ^= (uint8_t)(1u << (rng() % 8));
    test::write_file(path, b);
    hearth_model *m = nullptr;
    const hearth_status st = hearth_model_load(path.c_str(), nullptr, &m);
    CHECK((st == HEARTH_OK) == (m != nullptr));
    if (st != HEARTH_OK) CHECK(std::strlen(hearth_last_error()) > 0);
    hearth_model_free(m);
  }
}
