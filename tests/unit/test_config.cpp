#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "config/config.hpp"
#include "config/run_config.hpp"
#include "config/schema.hpp"
#include "helpers.hpp"

using namespace cxr;
using namespace cxr::config;

namespace {
Schema test_schema() {
  Schema s;
  s.add({"seed", Type::Int, "0", 0, 100, {}, ""});
  s.add({"train.lr", Type::Float, "0.001", 0.0, 1.0, {}, ""});
  s.add({"train.amp", Type::String, "off", {}, {}, {"off", "fp16", "bf16"}, ""});
  s.add({"train.overlap", Type::Bool, "true", {}, {}, {}, ""});
  s.add({"model.name", Type::String, "unet", {}, {}, {}, ""});
  return s;
}
}  // namespace

TEST_SUITE("config") {
  TEST_CASE("defaults apply when nothing is given") {
    const Schema s = test_schema();
    const Config c = load(s, "", {});
    CHECK(c.get_int("seed") == 0);
    CHECK(c.get_float("train.lr") == doctest::Approx(0.001));
    CHECK(c.get_string("train.amp") == "off");
    CHECK(c.get_bool("train.overlap"));
    CHECK(c.source("seed") == "default");
  }

  TEST_CASE("a file sets nested keys and overrides win over the file") {
    test::ScratchDir dir("config");
    const Schema s = test_schema();
    const auto f = dir.file("a.yaml", "seed: 7\ntrain:\n  lr: 0.01\n  amp: bf16\n");
    const Config c = load(s, f, {"train.lr=0.5", "train.overlap=false"});
    CHECK(c.get_int("seed") == 7);
    CHECK(c.get_float("train.lr") == doctest::Approx(0.5));
    CHECK(c.get_string("train.amp") == "bf16");
    CHECK_FALSE(c.get_bool("train.overlap"));
    CHECK(c.source("seed") == f + ":1");
  }

  TEST_CASE("an unknown key names file, line and key, with a hint") {
    test::ScratchDir dir("config");
    const Schema s = test_schema();
    const auto f = dir.file("a.yaml", "seed: 1\ntrain:\n  lr: 0.01\n  ampp: fp16\n");
    const std::string msg = CXR_ERROR_OF(load(s, f, {}));
    CHECK(msg.find(f + ":4") != std::string::npos);
    CHECK(msg.find("unknown key 'train.ampp'") != std::string::npos);
    CHECK(msg.find("did you mean 'train.amp'") != std::string::npos);
    CHECK_THROWS_AS(load(s, f, {}), InputError);
  }

  TEST_CASE("wrong types and out-of-range values are errors naming the key") {
    test::ScratchDir dir("config");
    const Schema s = test_schema();
    CHECK(CXR_ERROR_OF(load(s, dir.file("b.yaml", "seed: abc\n"), {})).find(":1: key 'seed': expected an integer") !=
          std::string::npos);
    CHECK(CXR_ERROR_OF(load(s, dir.file("c.yaml", "\n\nseed: 101\n"), {})).find(":3: key 'seed'") != std::string::npos);
    CHECK(CXR_ERROR_OF(load(s, dir.file("d.yaml", "train:\n  amp: fp8\n"), {})).find("one of {off, fp16, bf16}") !=
          std::string::npos);
    CHECK(CXR_ERROR_OF(load(s, dir.file("e.yaml", "train: 3\n"), {})).find("'train' is a section") != std::string::npos);
    CHECK(CXR_ERROR_OF(load(s, dir.file("f.yaml", "seed: [1, 2]\n"), {})).find("got a list") != std::string::npos);
    CHECK(CXR_ERROR_OF(load(s, dir.file("g.yaml", "seed: 1\n  bad indent: [\n"), {})).find("invalid YAML") !=
          std::string::npos);
    CHECK(CXR_ERROR_OF(load(s, "/nonexistent/x.yaml", {})).find("cannot read config file /nonexistent/x.yaml") !=
          std::string::npos);
  }

  TEST_CASE("bad overrides are errors naming the argument") {
    const Schema s = test_schema();
    CHECK(CXR_ERROR_OF(load(s, "", {"train.lr=2"})).find("command line 'train.lr=2'") != std::string::npos);
    CHECK(CXR_ERROR_OF(load(s, "", {"train.nope=2"})).find("unknown key 'train.nope'") != std::string::npos);
    CHECK(CXR_ERROR_OF(load(s, "", {"seed"})).find("expected key.sub=value") != std::string::npos);
    CHECK(CXR_ERROR_OF(load(s, "", {"train.overlap=maybe"})).find("true or false") != std::string::npos);
  }

  TEST_CASE("the effective config written as YAML loads back to the same values") {
    test::ScratchDir dir("config");
    const Schema s = test_schema();
    const Config c = load(s, "", {"seed=42", "train.amp=fp16", "model.name=unetpp"});
    const auto f = dir.file("saved.yaml", c.to_yaml());
    const Config back = load(s, f, {});
    CHECK(back.get_int("seed") == 42);
    CHECK(back.get_string("train.amp") == "fp16");
    CHECK(back.get_string("model.name") == "unetpp");
    CHECK(back.to_json() == c.to_json());
  }

  TEST_CASE("a run's config.yaml: saved and read back through the schema; a missing one named") {
    test::ScratchDir dir("run-config");
    config::Config c(config::project_schema());
    c.apply_override("train.lr=0.0005");
    c.apply_override("model.norm=syncbatch");
    config::save_run_config(dir.path.string(), c);
    const config::Config back = config::load_run_config(dir.path.string());
    CHECK(back.to_yaml() == c.to_yaml());
    CHECK(back.get_float("train.lr") == doctest::Approx(0.0005));
    CHECK(config::saved_config(c.to_yaml(), "a checkpoint").get_string("model.norm") == "syncbatch");
    CHECK(CXR_ERROR_OF(config::load_run_config((dir.path / "nope").string())).find("is not a cxr-train run directory") != std::string::npos);
  }
}
