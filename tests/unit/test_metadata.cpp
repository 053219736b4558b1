#include <doctest/doctest.h>
#include <zlib.h>

#include "common/error.hpp"
#include "helpers.hpp"
#include "nih/metadata.hpp"

using namespace cxr;

namespace {
const char* kHeader2017 =
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n";
const char* kHeader2020 =
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n";
const char* kRows =
    "00000001_000.png,Cardiomegaly,0,1,58,M,PA,2682,2749,0.143,0.143\n"
    "00000001_001.png,Cardiomegaly|Emphysema,1,1,58,M,PA,2894,2729,0.14300000000000002,0.143\n"
    "00000002_000.png,No Finding,0,2,81,F,AP,2500,2048,0.168,0.168\n";
}  // namespace

TEST_SUITE("metadata") {
  TEST_CASE("the 2017 release header (trailing comma) and the 2020 header both parse") {
    test::ScratchDir dir("meta");
    for (const char* header : {kHeader2017, kHeader2020}) {
      const auto path = dir.file("d.csv", std::string(header) + kRows);
      const nih::Metadata m = nih::read_metadata(path);
      CHECK(m.header_format == (header == kHeader2017 ? "2017" : "2020"));
      REQUIRE(m.records.size() == 3);
      const nih::Record& r = *m.find("00000001_001.png");
      CHECK(r.patient_id == 1);
      CHECK(r.follow_up == 1);
      CHECK(r.labels == ((1u << 1) | (1u << 10)));
      CHECK(r.view == "PA");
      CHECK(r.original_width == 2894);
      CHECK(r.spacing_x == doctest::Approx(0.143));
      CHECK(m.find("00000002_000.png")->labels == 0);
      CHECK(m.find("00000002_000.png")->sex == "F");
      CHECK(m.patient_count() == 2);
    }
  }

  TEST_CASE("quoted fields, CRLF line ends and '058Y' ages") {
    test::ScratchDir dir("meta");
    const auto path = dir.file(
        "d.csv", std::string(kHeader2020) + "\"00000003_000.png\",\"Mass|Nodule\",0,3,058Y,M,PA,2500,2048,0.143,0.143\r\n");
    const nih::Metadata m = nih::read_metadata(path);
    REQUIRE(m.records.size() == 1);
    CHECK(m.records[0].image == "00000003_000.png");
    CHECK(m.records[0].age == 58);
    CHECK(m.records[0].labels == ((1u << 4) | (1u << 5)));
    CHECK(m.records[0].spacing_y == doctest::Approx(0.143));
  }

  TEST_CASE("gzip-compressed tables are read transparently") {
    test::ScratchDir dir("meta");
    const std::string path = (dir.path / "d.csv.gz").string();
    gzFile f = gzopen(path.c_str(), "wb");
    const std::string text = std::string(kHeader2020) + kRows;
    gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
    gzclose(f);
    CHECK(nih::read_metadata(path).records.size() == 3);
  }

  TEST_CASE("bad rows are errors naming file and line") {
    test::ScratchDir dir("meta");
    auto error_for = [&](const std::string& body) {
      return CXR_ERROR_OF(nih::read_metadata(dir.file("bad.csv", std::string(kHeader2017) + body)));
    };
    const std::string p = (dir.path / "bad.csv").string();
    CHECK(error_for("00000001_000.png,Mass,0,1,58,M,PA,2682,2749,0.143\n") == p + ":2: expected 11 fields, found 10");
    CHECK(error_for(std::string(kRows) + "00000004_000.png,Mass,0,4,x,M,PA,1,1,0.1,0.1\n") ==
          p + ":5: age 'x' is not an integer");
    CHECK(error_for("00000001_000.png,Broken Heart,0,1,58,M,PA,2682,2749,0.143,0.143\n") ==
          p + ":2: unknown finding label 'Broken Heart'");
    CHECK(error_for(std::string(kRows) + "00000001_000.png,Mass,0,1,58,M,PA,2682,2749,0.143,0.143\n") ==
          p + ":5: duplicate image '00000001_000.png' (first at line 2)");
    CHECK(error_for("\"00000001_000.png,Mass,0,1,58,M,PA,2682,2749,0.143,0.143\n").find(":2: unterminated quoted") !=
          std::string::npos);
    CHECK(CXR_ERROR_OF(nih::read_metadata(dir.file("h.csv", "Name,Labels\n"))).find(":1: not a ChestX-ray14") !=
          std::string::npos);
    CHECK_THROWS_AS(nih::read_metadata((dir.path / "absent.csv").string()), InputError);
  }

  TEST_CASE("labels round-trip through the bit mask") {
    CHECK(nih::parse_labels("No Finding") == 0);
    CHECK(nih::parse_labels("Hernia") == (1u << 13));
    CHECK(nih::format_labels(nih::parse_labels("Atelectasis|Pleural_Thickening")) == "Atelectasis|Pleural_Thickening");
    CHECK(nih::format_labels(0) == "No Finding");
  }

  TEST_CASE("split lists: one name a line, blank lines ignored, duplicates named") {
    test::ScratchDir dir("meta");
    const auto names = nih::read_image_list(dir.file("l.txt", "a.png\n\nb.png\r\n  c.png \n"));
    CHECK(names == std::vector<std::string>{"a.png", "b.png", "c.png"});
    const auto p = dir.file("dup.txt", "a.png\nb.png\na.png\n");
    CHECK(CXR_ERROR_OF(nih::read_image_list(p)) == p + ":3: duplicate image 'a.png' (first at line 1)");
  }
}
