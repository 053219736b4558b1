// cxr-synth: writes a synthetic ChestX-ray14 root (the demo's and the tests' default input).
//
//   cxr-synth --output /tmp/nih-synth --count 200 [--size 1024] [--seed 0]
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/tool.hpp"
#include "synth/synth.hpp"

int main(int argc, char** argv) {
  cxr::setup_logging("cxr-synth");
  CLI::App app{"Write a synthetic ChestX-ray14 root: images_001/images/*.png, Data_Entry_2017.csv (2017 release "
               "format), train_val_list.txt and test_list.txt, with chest-like phantoms.",
               "cxr-synth"};
  cxr::add_version_flag(app);
  cxr::synth::SynthOptions o;
  app.add_option("--output", o.output, "dataset root to create")->required();
  app.add_option("--count", o.count, "number of images")->check(CLI::Range(1, 10000000));
  app.add_option("--size", o.size, "image width and height in pixels (NIH: 1024)")->check(CLI::Range(32, 4096));
  app.add_option("--seed", o.seed, "seed; the same seed gives the same files");
  app.add_option("--test-fraction", o.test_fraction, "share of patients in test_list.txt")->check(CLI::Range(0.0, 1.0));
  if (auto code = cxr::parse_command_line(app, argc, argv)) return *code;
  return cxr::run_tool([&] {
    const auto s = cxr::synth::write_dataset(o);
    spdlog::info("wrote {}: {} images of {} patients ({} train_val, {} test, {} RGBA), {}x{} px", o.output, s.images,
                 s.patients, s.train_val, s.test, s.rgba, o.size, o.size);
    return static_cast<int>(cxr::kExitOk);
  });
}
