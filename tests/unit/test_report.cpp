#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "helpers.hpp"
#include <fmt/format.h>

#include "report/reduce.hpp"
#include "report/stats.hpp"

using namespace cxr;
using namespace cxr::report;

namespace {
// One evaluated run in memory: 4 images, the model 10 dB above the noisy input on each.
Run evaluated_run() {
  Run run;
  run.dir = "runs/a";
  run.name = "a";
  run.meta = rundir::EvalMeta{};
  run.meta->images = 4;
  run.meta->sigmas = {0.1};
  run.meta->methods = {"model", "noisy"};
  run.meta->lpips = "unavailable";
  for (int i = 0; i < 4; ++i)
    for (const char* method : {"model", "noisy"}) {
      const double psnr = (method == std::string("model") ? 30.0 : 20.0) + i;
      run.rows.push_back({"img" + std::to_string(i), i, i < 2 ? "Mass|Edema" : "No Finding", i % 2 ? "PA" : "AP", 0.1, method, psnr,
                          0.9, 0.8, std::nullopt});
    }
  return run;
}
}  // namespace

TEST_SUITE("report") {
  TEST_CASE("ingest: rows sorted, a repeated or a missing row refused by name") {
    Run run = evaluated_run();
    std::reverse(run.rows.begin(), run.rows.end());
    complete_run(run);
    CHECK(run.rows.front().image == "img0");
    CHECK(run.rows.front().method == "model");
    run.rows.push_back(run.rows.back());
    CHECK(CXR_ERROR_OF(complete_run(run)) == "run runs/a: img3|0.1|noisy appears twice in its eval CSVs");
    run.rows.resize(7);
    CHECK(CXR_ERROR_OF(complete_run(run)).find("7 evaluation rows, expected 8 (4 images x 1 sigmas x 2 methods)") != std::string::npos);
  }

  TEST_CASE("statistics: groups, paired comparisons, findings and views from typed rows") {
    const std::vector<Run> runs = {evaluated_run()};
    const Groups groups = make_groups(runs);
    REQUIRE(groups.size() == 2);
    const Group& model = groups.at({0, 0.1, "model"});
    CHECK(model.images == std::vector<std::string>{"img0", "img1", "img2", "img3"});
    CHECK(model.summaries.at("psnr").mean == doctest::Approx(31.5));
    CHECK(model.summaries.count("lpips") == 0);  // no row has it
    const nlohmann::json summary = make_summary(runs, groups);
    REQUIRE(summary["paired"].size() == 1);
    CHECK(summary["paired"][0]["b"] == "a:noisy");
    CHECK(summary["paired"][0]["psnr"]["mean_diff"].get<double>() == doctest::Approx(10.0));
    CHECK(summary["by_label"].size() == 3);  // Edema, Mass, No Finding
    CHECK(summary["by_view"][0]["view"] == "AP");
    CHECK(summary["by_view"][0]["n"] == 2);
    CHECK(summary["scaling"].empty());
  }

  TEST_CASE("rendering: the CSV and the Markdown quality table") {
    const std::vector<Run> runs = {evaluated_run()};
    const Groups groups = make_groups(runs);
    const std::string csv = render_csv(runs, groups);
    // The interval is the patient-level bootstrap's (four patients of one image each here).
    const double ci = summarize_by_patient({30, 31, 32, 33}, {0, 1, 2, 3}).ci95;
    CHECK(ci > 0.5);
    CHECK(csv.find(fmt::format("\na,unet,0.1,model,4,31.500000,1.290994,{:.6f},0.900000,0.000000,0.000000,0.800000,0.000000,0.000000,,,\n",
                               ci)) != std::string::npos);
    const std::string md = render_markdown(runs, groups, make_summary(runs, groups));
    CHECK(md.find("| run | sigma | n | model | noisy |\n") != std::string::npos);
    CHECK(md.find(fmt::format("| a | 0.1 | 4 | 31.50 ± {:.2f} / 0.9000 ± 0.0000 / 0.8000 ± 0.0000 | 21.50 ± {:.2f} /", ci, ci)) !=
          std::string::npos);
    CHECK(md.find("patient-level bootstrap") != std::string::npos);
    CHECK(md.find("LPIPS: unavailable.") != std::string::npos);
  }

  TEST_CASE("statistics: training medians after the warm-up, the all-reduce's overlap fraction and bus bandwidth") {
    Run run;
    run.dir = run.name = "scaling-2";
    for (int rank = 0; rank < 2; ++rank) {
      rundir::StepLog log;
      for (int k = 1; k <= 20; ++k) {
        rundir::StepRecord s;
        s.step = k;
        s.step_s = k <= 2 ? 5.0 : (k % 2 ? 0.5 : 0.6);  // two warm-up steps, then 0.5 and 0.6 alternately
        s.forward_s = 0.1;
        s.backward_s = 0.3;
        s.comm_wire_s = 0.1;
        s.comm_exposed_s = 0.025;  // three quarters hidden behind backward
        s.comm_bytes = 1e8;
        log.steps.push_back(s);
      }
      run.logs.push_back(log);
    }
    const nlohmann::json t = make_summary({run}, {})["runs"][0]["training"];
    CHECK(t["warmup_steps"] == 2);
    CHECK(t["timed_steps"] == 18);
    CHECK(t["step_s_median"].get<double>() == doctest::Approx(0.6));  // 9 of each: the upper middle
    CHECK(t["step_s_spread"].get<double>() == doctest::Approx(0.1 / 0.6));
    CHECK(t["overlap"].get<double>() == doctest::Approx(0.75));
    CHECK(t["busbw_gb_s"].get<double>() == doctest::Approx(1.0));  // 1e8 B / 0.1 s x 2(2-1)/2
    CHECK(t["backward_s"].get<double>() == doctest::Approx(0.3));
    const std::string md = render_markdown({run}, {}, make_summary({run}, {}));
    CHECK(md.find("| scaling-2 | 2 | 0 |") != std::string::npos);
    CHECK(md.find("| 0.1000 | 0.0250 | 0.75 | 1.000 |") != std::string::npos);
  }

  TEST_CASE("confidence intervals respect patients: one patient's many near-identical images widen the interval") {
    // Patient 1: 50 near-identical images; patients 2..11: one image each, spread out.
    std::vector<double> values;
    std::vector<std::int64_t> patients;
    for (int i = 0; i < 50; ++i) values.push_back(35.0 + 0.01 * (i % 3)), patients.push_back(1);
    for (int p = 2; p <= 11; ++p) values.push_back(23.0 + p), patients.push_back(p);
    const Summary images = summarize(values), clustered = summarize_by_patient(values, patients);
    CAPTURE(images.ci95);
    CAPTURE(clustered.ci95);
    CHECK(clustered.mean == doctest::Approx(images.mean));  // the estimate is the image mean either way
    CHECK(clustered.ci95 > 3 * images.ci95);               // the interval counts 11 patients, not 60 images
    // With one image per patient the two agree (within the bootstrap's own error).
    std::vector<double> spread;
    std::vector<std::int64_t> one_each;
    for (int p = 0; p < 40; ++p) spread.push_back(30 + 3 * std::sin(p * 1.7)), one_each.push_back(p);
    const double ratio = summarize_by_patient(spread, one_each).ci95 / summarize(spread).ci95;
    CHECK(ratio == doctest::Approx(1.0).epsilon(0.2));
    // Paired comparisons average each patient's images first.
    const auto [a, b] = patient_means({1, 3, 10}, {0, 1, 4}, {7, 7, 9});
    CHECK(a == std::vector<double>{2, 10});
    CHECK(b == std::vector<double>{0.5, 4});
  }

  TEST_CASE("privacy: match rates, chance and patient-level intervals by hand; model-free queries once per test set") {
    // 4 test images of patients 1, 1, 2, 3 (only patient 1 has a follow-up); two runs on the same test set.
    std::vector<Run> runs = {evaluated_run(), evaluated_run()};
    runs[1].name = "b";
    for (auto& run : runs) {
      run.meta->match_gallery = 4;
      run.meta->test_set_sha256 = "same";
      const std::int64_t patient[] = {1, 1, 2, 3};
      const std::int64_t obfuscated_rank[] = {1, 2, 1, 3}, followup_rank[] = {1, 2, 0, 0};
      for (int i = 0; i < 4; ++i) {
        const std::string image = "img" + std::to_string(i);
        const std::int64_t same = i < 2 ? 1 : 0;
        run.matches.push_back({image, patient[i], 0.0, "clean", 1, 4, same ? 1 : 0, same});
        run.matches.push_back({image, patient[i], 0.1, "obfuscated", obfuscated_rank[i], 4, followup_rank[i], same});
        run.matches.push_back({image, patient[i], 0.1, "denoised", 1, 4, same, same});
      }
      complete_run(run);
    }
    const Groups groups = make_groups(runs);
    const nlohmann::json summary = make_summary(runs, groups);
    std::map<std::tuple<std::string, double, std::string, std::string>, nlohmann::json> cell;
    for (const auto& c : summary["privacy"]["reidentification"]) cell[{c["gallery"], c["sigma"], c["query"], c["run"]}] = c;
    // clean and obfuscated once (run "-"), denoised per run; (a) and (b) each: 2 x (2 + 2) cells
    CHECK(cell.size() == 8);
    const auto& a = cell.at({"a", 0.1, "obfuscated", "-"});
    CHECK(a["queries"] == 4);
    CHECK(a["patients"] == 3);
    CHECK(a["top1"]["rate"].get<double>() == doctest::Approx(0.5));   // ranks 1, 2, 1, 3
    CHECK(a["top5"]["rate"].get<double>() == doctest::Approx(1.0));
    CHECK(a["top1"]["chance"].get<double>() == doctest::Approx(0.25));  // 1 of 4
    // Queries per patient 2, 1, 1: worth (2 + 1 + 1)^2 / (4 + 1 + 1) = 2.67 independent ones.
    CHECK(a["effective_n"].get<double>() == doctest::Approx(16.0 / 6));
    CHECK(a["top1"]["ci_low"].get<double>() == doctest::Approx(wilson_interval(0.5, 16.0 / 6).first));
    const auto& b = cell.at({"b", 0.1, "obfuscated", "-"});
    CHECK(b["queries"] == 2);  // patient 1's two studies
    CHECK(b["top1"]["rate"].get<double>() == doctest::Approx(0.5));
    CHECK(b["top1"]["chance"].get<double>() == doctest::Approx(1.0 / 3));  // 1 of the 3 other images
    CHECK(cell.count({"a", 0.1, "denoised", "b"}) == 1);
    const auto& d = summary["privacy"]["deobfuscation"];
    REQUIRE(d.size() == 2);
    CHECK(d[0]["obfuscated_psnr"].get<double>() == doctest::Approx(21.5));  // the noisy rows' mean
    // The noisy rows' PSNRs are 20..23 dB: their RMS errors 10^(-PSNR/20), averaged.
    CHECK(d[0]["obfuscated_rms"].get<double>() ==
          doctest::Approx((std::pow(10.0, -1.0) + std::pow(10.0, -1.05) + std::pow(10.0, -1.1) + std::pow(10.0, -1.15)) / 4));
    CHECK(d[0]["denoised_psnr"].get<double>() == doctest::Approx(31.5));
    const std::string md = render_markdown(runs, groups, summary);
    CHECK(md.find("| a | 0.1 | obfuscated | - | 4 | 3 | 50.0 (") != std::string::npos);
    CHECK(md.find("Sigma 0.1: the obfuscated image is at 21.5 dB PSNR") != std::string::npos);
    CHECK(md.find("Gallery (b) is empty") == std::string::npos);
    // Another test set: its model-free queries are its own, labelled by run.
    runs[1].meta->test_set_sha256 = "other";
    const nlohmann::json apart = make_summary(runs, groups);
    std::set<std::string> labels;
    for (const auto& c : apart["privacy"]["reidentification"])
      if (c["query"] == "obfuscated" && c["gallery"] == "a") {
        labels.insert(c["run"].get<std::string>());
        CHECK(c["queries"] == 4);
      }
    CHECK(labels == std::set<std::string>{"a", "b"});
    // A repeated query, a missing one, or one from another evaluation, is refused.
    runs[0].matches.push_back(runs[0].matches.front());
    CHECK(CXR_ERROR_OF(complete_run(runs[0])) == "run runs/a: the clean query of img0 at sigma 0 appears twice in its match CSVs");
    runs[0].matches.erase(runs[0].matches.begin());
    runs[0].matches.pop_back();
    CHECK(CXR_ERROR_OF(complete_run(runs[0])).find("11 re-identification rows, expected 12") != std::string::npos);
    runs[0].matches.push_back({"img3", 3, 0.3, "denoised", 1, 4, 0, 0});
    CHECK(CXR_ERROR_OF(complete_run(runs[0])).find("the denoised query of img3 (sigma 0.3, gallery 4) does not belong") != std::string::npos);
  }

  TEST_CASE("privacy: without the model, clean and obfuscated queries only; no follow-ups and no matches said in words") {
    Run run = evaluated_run();
    run.meta->methods = {"noisy"};
    run.rows.erase(std::remove_if(run.rows.begin(), run.rows.end(), [](const auto& r) { return r.method == "model"; }), run.rows.end());
    run.meta->images = 4;
    run.meta->match_gallery = 4;
    for (int i = 0; i < 4; ++i)
      for (double sigma : {0.0, 0.1}) run.matches.push_back({"img" + std::to_string(i), i, sigma, sigma > 0 ? "obfuscated" : "clean", 1, 4, 0, 0});
    complete_run(run);  // 4 x (1 + 1 sigma): complete
    const Groups groups = make_groups({run});
    std::string md = render_markdown({run}, groups, make_summary({run}, groups));
    CHECK(md.find("Gallery (b) is empty: no patient has two studies") != std::string::npos);
    const std::vector<Run> older = {evaluated_run()};  // an evaluation from before the attack: match_gallery 0, no rows
    const Groups older_groups = make_groups(older);
    md = render_markdown(older, older_groups, make_summary(older, older_groups));
    CHECK(md.find("| 0.1 | 21.50 | a | clean targets, sigma 0.1 |") != std::string::npos);  // de-obfuscation still there
    CHECK(md.find("**Re-identification by matching**: not measured") != std::string::npos);
  }
}
