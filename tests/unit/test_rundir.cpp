#include <doctest/doctest.h>

#include <cmath>

#include "common/text.hpp"
#include "helpers.hpp"
#include "rundir/eval_results.hpp"
#include "rundir/step_log.hpp"

using namespace cxr;
using namespace cxr::rundir;

namespace {
// Lines exactly as cxr-eval and cxr-train wrote them before these types existed.
const char* kEvalCsv =
    "image,patient,labels,view,sigma,method,psnr,ssim,ssim_3x3,lpips\n"
    "00000013_000.png,13,No Finding,AP,0.1,model,13.494035,0.412662,0.234651,\n"
    "00000013_001.png,13,Cardiomegaly|Pneumonia,PA,0.2,median,14.317904,0.432293,0.234457,0.125000\n";
const char* kStepLog =
    "{\"event\":\"baseline\",\"noisy_val_loss\":0.11625131113188607}\n"
    "{\"backward_s\":0.0073,\"comm_bytes\":31049860.0,\"comm_exposed_s\":1.071e-06,\"comm_wire_s\":0.0051,\"compute_s\":0.01101578,"
    "\"data_s\":0.000490787,\"epoch\":1,\"forward_s\":0.00371578,\"images_per_s\":318.8875925222454,\"loader_s\":0.000424838,\"local_loss\":0.5132451057434082,\"loss\":0.5132451057434082,\"loss_scale\":1.0,\"lr\":0.001,"
    "\"max_rss_mb\":185.73046875,\"optim_s\":0.001005439,\"peak_gpu_mb\":0.0,\"skipped\":false,\"step\":1,\"step_s\":0.012543605}\n"
    "{\"buffer_checksum\":0.0,\"epoch\":1,\"epoch_s\":0.152811545,\"event\":\"epoch\",\"global_step\":18,"
    "\"train_loss\":0.45588412715329063,\"val_loss\":0.3992335540907724}\n";
}  // namespace

TEST_SUITE("rundir") {
  TEST_CASE("eval results: cxr-eval's CSV parses into typed rows and is written back byte for byte") {
    const auto rows = parse_eval_results(kEvalCsv, "rank-00000.csv");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].image == "00000013_000.png");
    CHECK(rows[0].patient == 13);
    CHECK(rows[1].labels == "Cardiomegaly|Pneumonia");
    CHECK(rows[1].view == "PA");
    CHECK(rows[1].sigma == 0.2);
    CHECK(rows[1].method == "median");
    CHECK(rows[1].psnr == doctest::Approx(14.317904));
    CHECK(rows[1].ssim_3x3 == doctest::Approx(0.234457));
    CHECK_FALSE(rows[0].lpips.has_value());
    CHECK(*rows[1].lpips == doctest::Approx(0.125));
    CHECK(to_csv(rows) == kEvalCsv);
  }

  TEST_CASE("eval results: fields with commas and quotes survive the round trip") {
    EvalRow row{"a,\"b\".png", 7, "Mass", "PA", 0.3, "gaussian", 20.5, 0.5, 0.25, std::nullopt};
    const auto back = parse_eval_results(to_csv({row}), "x.csv");
    REQUIRE(back.size() == 1);
    CHECK(back[0].image == row.image);
    CHECK(split_csv_line(csv_quote("x,\"y\"") + ",z") == std::vector<std::string>{"x,\"y\"", "z"});
  }

  TEST_CASE("eval results: errors name the file and line") {
    const std::string header = std::string(kEvalHeader) + "\n";
    CHECK(CXR_ERROR_OF(parse_eval_results("image,patient\n", "r.csv")).rfind("r.csv:1: expected the header", 0) == 0);
    CHECK(CXR_ERROR_OF(parse_eval_results(header + "a,1,L,PA,0.1,model,1,2\n", "r.csv")) == "r.csv:2: expected 10 fields, found 8");
    CHECK(CXR_ERROR_OF(parse_eval_results(header + "\na,1,L,PA,0.1,model,nan,2,3,\n", "r.csv"))
              .rfind("r.csv:3: value nan is not finite", 0) == 0);
    CHECK(CXR_ERROR_OF(parse_eval_results(header + "a,1,L,PA,0.1,model,x,2,3,\n", "r.csv")) == "r.csv:2: 'x' is not a number");
    CHECK(CXR_ERROR_OF(parse_eval_results(header + "a,P1,L,PA,0.1,model,1,2,3,\n", "r.csv")) == "r.csv:2: patient 'P1' is not an integer");
    CHECK(CXR_ERROR_OF(parse_eval_results(header + "\"a,1,L,PA,0.1,model,1,2,3,\n", "r.csv")) == "r.csv:2: unterminated quoted field");
  }

  TEST_CASE("match results: the re-identification rows round-trip; bad rows are named") {
    const std::string csv = std::string(kMatchHeader) + "\n" +
                            "00000013_000.png,13,0,clean,1,45,2,3\n"
                            "00000013_001.png,13,0.1,obfuscated,4,45,0,0\n";
    const auto rows = parse_match_results(csv, "match-00000.csv");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].query == "clean");
    CHECK(rows[0].followup_same == 3);
    CHECK(rows[1].sigma == 0.1);
    CHECK(rows[1].own_rank == 4);
    CHECK(rows[1].gallery == 45);
    CHECK(to_csv(rows) == csv);
    const std::string header = std::string(kMatchHeader) + "\n";
    CHECK(CXR_ERROR_OF(parse_match_results(header + "a,1,0,noisy,1,4,0,0\n", "m.csv")) ==
          "m.csv:2: query 'noisy' is not clean, obfuscated or denoised");
    CHECK(CXR_ERROR_OF(parse_match_results(header + "a,1,0,clean,5,4,0,0\n", "m.csv")) == "m.csv:2: ranks out of range for a gallery of 4");
    CHECK(CXR_ERROR_OF(parse_match_results(header + "a,1,0,clean,-1,4,0,0\n", "m.csv")) ==
          "m.csv:2: own_rank '-1' is not a non-negative integer");
    CHECK(CXR_ERROR_OF(parse_match_results(header + "a,1,0,clean,1,4\n", "m.csv")) == "m.csv:2: expected 8 fields, found 6");
    CHECK(CXR_ERROR_OF(parse_match_results(header + "a,1,0,clean,1,4,0,2\n", "m.csv")) == "m.csv:2: followup_rank 0 does not fit followup_same 2");
    CHECK(CXR_ERROR_OF(parse_match_results(header + "a,1,0.1,clean,1,4,0,0\n", "m.csv")) ==
          "m.csv:2: a clean query is at sigma 0, and only a clean one");
  }

  TEST_CASE("eval meta.json: written and read back whole") {
    EvalMeta m{3, "run/checkpoints/best.pt", 36, "unet base=4", "test", 12, "abc", {0.1, 0.2}, {"model", "median"}, 0.1, 5,
               {{0.1, 0.75, 3}, {0.2, 1.0, 5}}, "unavailable", "ds", 12};
    const std::string text = to_json_text(m);
    const EvalMeta back = parse_eval_meta(text, "meta.json");
    CHECK(back.ranks == 3);
    CHECK(back.global_step == 36);
    CHECK(back.sigmas == m.sigmas);
    CHECK(back.methods == m.methods);
    REQUIRE(back.baselines.size() == 2);
    CHECK(back.baselines[1].gaussian_blur_sigma == 1.0);
    CHECK(back.baselines[1].median_kernel == 5);
    CHECK(back.match_gallery == 12);
    CHECK(to_json_text(back) == text);
    CHECK(CXR_ERROR_OF(parse_eval_meta("{\"ranks\": 2}", "e/meta.json")).rfind("e/meta.json: not the meta.json cxr-eval writes", 0) == 0);
    // A meta.json from before the privacy report: no match files.
    nlohmann::json older = nlohmann::json::parse(text);
    older.erase("match_gallery");
    CHECK(parse_eval_meta(older.dump(), "meta.json").match_gallery == 0);
    CHECK(eval_results_path("out", 2) == std::filesystem::path("out/eval/rank-00002.csv"));
    CHECK(match_results_path("out", 2) == std::filesystem::path("out/eval/match-00002.csv"));
  }

  TEST_CASE("step log: the trainer's lines parse into records and are written back byte for byte") {
    const StepLog log = parse_step_log(kStepLog, "rank-00000.jsonl");
    REQUIRE(log.baselines.size() == 1);
    REQUIRE(log.steps.size() == 1);
    REQUIRE(log.epochs.size() == 1);
    CHECK(log.steps[0].step == 1);
    CHECK(log.steps[0].images_per_s == doctest::Approx(318.8875925222454));
    CHECK(log.steps[0].comm_bytes == 31049860.0);
    CHECK(log.steps[0].comm_wire_s == 0.0051);
    CHECK(*log.epochs[0].val_loss == doctest::Approx(0.3992335540907724));
    CHECK(to_line(log.baselines[0]) + "\n" + to_line(log.steps[0]) + "\n" + to_line(log.epochs[0]) + "\n" == kStepLog);
    CHECK(step_log_path("run", 1) == std::filesystem::path("run/logs/rank-00001.jsonl"));
  }

  TEST_CASE("step log: NaN losses and missing validation round-trip; an older log's val_loss -1 means none") {
    StepRecord step;
    step.loss = NAN;
    step.skipped = true;
    EpochRecord epoch{2, std::nullopt, std::nullopt, 1.5, 40, 0};
    const StepLog log = parse_step_log(to_line(step) + "\n" + to_line(epoch) + "\n", "log");
    CHECK(std::isnan(log.steps.at(0).loss));
    CHECK(log.steps[0].skipped);
    CHECK_FALSE(log.epochs.at(0).train_loss.has_value());
    CHECK_FALSE(log.epochs[0].val_loss.has_value());
    CHECK(to_line(epoch).find("\"val_loss\":null") != std::string::npos);
    const std::string old = "{\"buffer_checksum\":0.0,\"epoch\":1,\"epoch_s\":1.0,\"event\":\"epoch\",\"global_step\":3,\"train_loss\":0.5,\"val_loss\":-1.0}";
    CHECK_FALSE(parse_step_log(old, "log").epochs.at(0).val_loss.has_value());
  }

  TEST_CASE("step log: lines of older versions, without the keys added since, still read") {
    const std::string step = "{\"step\":1,\"epoch\":1,\"skipped\":false,\"loss\":0.5,\"local_loss\":0.5,\"lr\":0.001,\"data_s\":0,"
                             "\"compute_s\":1,\"comm_s\":0.25,\"optim_s\":0,\"step_s\":1,\"images_per_s\":4}";
    const std::string epoch = "{\"event\":\"epoch\",\"epoch\":1,\"epoch_s\":1.0,\"global_step\":1,\"train_loss\":0.5,\"val_loss\":0.4}";
    const StepLog log = parse_step_log(step + "\n" + epoch + "\n", "old.jsonl");
    CHECK(log.steps.at(0).images_per_s == 4);
    CHECK(log.steps[0].comm_exposed_s == 0.25);  // comm_s, its older name
    CHECK(log.steps[0].comm_wire_s == 0);
    CHECK(log.steps[0].loss_scale == 1);  // the record's default
    CHECK(log.epochs.at(0).buffer_checksum == 0);
  }

  TEST_CASE("step log: the set-up record (threads, CPUs, gradient buckets) round-trips") {
    const SetupRecord setup{4, 1, 2, 4, {5242880.0, 1024.0}};
    const StepLog log = parse_step_log(to_line(setup) + "\n", "log");
    REQUIRE(log.setups.size() == 1);
    CHECK(to_line(log.setups[0]) == to_line(setup));
    CHECK(log.setups[0].sharing_cpus == 4);
    CHECK(log.setups[0].bucket_bytes == setup.bucket_bytes);
  }

  TEST_CASE("step log: errors name the file and line") {
    CHECK(CXR_ERROR_OF(parse_step_log("{\"event\":\"baseline\",\"noisy_val_loss\":1}\n{\"step\":", "l.jsonl")) == "l.jsonl:2: not a JSON line");
    CHECK(CXR_ERROR_OF(parse_step_log("{\"event\":\"restart\"}", "l.jsonl")) == "l.jsonl:1: unknown event 'restart'");
    const std::string missing = CXR_ERROR_OF(parse_step_log("{\"step\":1,\"epoch\":1,\"skipped\":false}", "l.jsonl"));
    CHECK(missing.rfind("l.jsonl:1: ", 0) == 0);
    CHECK(missing.find("'loss'") != std::string::npos);
  }
}
