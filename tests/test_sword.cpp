// SWORD Bible modules (apps/sword.h): the zText reader on hand-built modules
// and on real bytes (tests/data/sword/: 3 John cut from Debian's
// sword-text-kjv and sword-text-sparv by make_fixture.py there), its errors
// on damaged files, the OSIS markup stripped to text, and the KJV
// versification. The last cases read the installed modules and are skipped,
// saying so, when `scripts/fetch_data.sh bible` has not installed them.
#include <filesystem>
#include <iostream>
#include <random>

#include "apps/sword.h"
#include "reference.h"
#include "ztext.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = std::string(MOEGRAD_TEST_DATA_DIR) + "/sword";

// A copy of one fixture module in a scratch directory, to damage.
fs::path copy_fixture(const ScratchDir& dir, const std::string& module) {
  const fs::path to = dir.path / module;
  fs::create_directories(to);
  for (const char* ext : {"bzs", "bzv", "bzz"})
    fs::copy_file(fs::path(kFixtures) / module / (std::string("nt.") + ext), to / (std::string("nt.") + ext));
  return to;
}

void patch_u32(const fs::path& file, size_t offset, uint32_t value) {
  std::string bytes = read_file(file);
  REQUIRE(offset + 4 <= bytes.size());
  for (int i = 0; i < 4; ++i) bytes[offset + size_t(i)] = char((value >> (8 * i)) & 0xFF);
  write_file(file, bytes);
}

bool real_modules_installed() {
  for (const char* m : {"engKJV2006eb", "spaRV1909eb"})
    for (const char* f : {"ot.bzv", "nt.bzv"})
      if (!fs::exists(fs::path(sword_module_dir(m)) / f)) return false;
  return true;
}

const char* const kSkipReal =
    "the SWORD modules engKJV2006eb and spaRV1909eb are not installed: skipping the test on the real Bibles "
    "(bash scripts/fetch_data.sh bible installs them)";

}  // namespace

TEST_CASE("ztext reader returns every entry of a hand-built module", "[sword]") {
  ScratchDir dir("ztext_built");
  const std::vector<std::string> entries = {
      "", "heading", "<w>In</w> the beginning", "", "x", std::string(60000, 'a'), "tail"};
  write_ztext(dir.path, "ot", entries, 3);
  CHECK(read_ztext_testament(dir.path.string(), Testament::old_testament) == entries);
  // One block for everything, and one entry per block, read the same.
  ScratchDir one("ztext_one_block"), each("ztext_each_block");
  write_ztext(one.path, "nt", entries, 100);
  write_ztext(each.path, "nt", entries, 1);
  CHECK(read_ztext_testament(one.path.string(), Testament::new_testament) == entries);
  CHECK(read_ztext_testament(each.path.string(), Testament::new_testament) == entries);
  // A testament with no entries is empty, not an error.
  ScratchDir empty("ztext_empty");
  write_ztext(empty.path, "ot", {}, 3);
  CHECK(read_ztext_testament(empty.path.string(), Testament::old_testament).empty());
}

TEST_CASE("ztext reader reads the real 3 John bytes in English and Spanish", "[sword]") {
  const auto en = read_ztext_testament(kFixtures + "/engKJV2006eb-3john", Testament::new_testament);
  const auto es = read_ztext_testament(kFixtures + "/spaRV1909eb-3john", Testament::new_testament);
  REQUIRE(en.size() == 18);
  REQUIRE(es.size() == 18);
  CHECK(en[0].empty());
  // Block 0 is followed by SWORD's 1,024 zero bytes of padding: they must be ignored.
  CHECK(en[1] == "<milestone type=\"x-importer\" subType=\"x-osis2mod\" n=\"$Rev: 3769 $ (SWORD: 1.9.0)\"/>");
  CHECK(en[2].find("THE THIRD EPISTLE OF JOHN") != std::string::npos);
  CHECK(en[3].find("sID=\"3John.1\"") != std::string::npos);
  CHECK(en[4].find("<w lemma=\"strong:G4245\">elder</w>") != std::string::npos);
  CHECK(osis_to_text(en[4]) == "The elder unto the wellbeloved Gaius, whom I love in the truth.");
  CHECK(osis_to_text(es[4]) == "EL anciano al muy amado Gaio, al cual yo amo en verdad.");
  CHECK(osis_to_text(en[17]) ==
        "But I trust I shall shortly see thee, and we shall speak face to face. Peace be to thee. Our friends salute "
        "thee. Greet the friends by name.");
  CHECK(osis_to_text(es[17]) ==
        "Porque espero verte en breve, y hablaremos boca \xC3\xA1 boca. Paz sea contigo. Los amigos te saludan. "
        "Saluda t\xC3\xBA \xC3\xA1 los amigos por nombre.");
  for (size_t i = 4; i < 18; ++i) {
    INFO("verse " << i - 3);
    CHECK(!osis_to_text(en[i]).empty());
    CHECK(!osis_to_text(es[i]).empty());
    CHECK(osis_to_text(en[i]).find('<') == std::string::npos);
  }
}

TEST_CASE("ztext reader names the file when a module is damaged", "[sword]") {
  const std::string module = "engKJV2006eb-3john";
  const auto expect_error = [&](const std::function<void(const fs::path&)>& damage, const std::string& file,
                                const std::string& needle) {
    ScratchDir dir("ztext_damaged");
    const fs::path m = copy_fixture(dir, module);
    damage(m);
    const std::string path = (m / file).string();
    try {
      read_ztext_testament(m.string(), Testament::new_testament);
    } catch (const Error& e) {
      INFO("message: " << e.what());
      CHECK(std::string(e.what()).find(path) != std::string::npos);
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
      return;
    }
    FAIL("expected an Error naming " << path << " and saying '" << needle << "'");
  };
  const auto truncate = [](const fs::path& f, size_t n) { write_file(f, read_file(f).substr(0, n)); };

  SECTION("a missing file") {
    expect_error([](const fs::path& m) { fs::remove(m / "nt.bzz"); }, "nt.bzz", "no such file");
  }
  SECTION("a truncated block index") {
    expect_error([&](const fs::path& m) { truncate(m / "nt.bzs", 20); }, "nt.bzs", "not a whole number");
  }
  SECTION("a truncated entry index") {
    expect_error([&](const fs::path& m) { truncate(m / "nt.bzv", 175); }, "nt.bzv", "not a whole number");
  }
  SECTION("an entry in a block that does not exist") {
    expect_error([](const fs::path& m) { patch_u32(m / "nt.bzv", 10 * 4, 7); }, "nt.bzv", "lists 2 blocks");
  }
  SECTION("an entry reaching past the end of its block") {
    expect_error([](const fs::path& m) { patch_u32(m / "nt.bzv", 10 * 4 + 4, 1000000); }, "nt.bzv",
                 "reaches past the end of its block");
  }
  SECTION("a block reaching past the end of the data file") {
    expect_error([&](const fs::path& m) { truncate(m / "nt.bzz", 3000); }, "nt.bzz", "reaches past the end");
  }
  SECTION("a block offset past the end of the data file") {
    expect_error([](const fs::path& m) { patch_u32(m / "nt.bzs", 12, 0xFFFFFFF0u); }, "nt.bzz", "reaches past the end");
  }
  SECTION("a corrupt zlib stream") {
    expect_error(
        [](const fs::path& m) {
          std::string z = read_file(m / "nt.bzz");
          for (size_t i = 1110 + 40; i < 1110 + 80; ++i) z[i] = char(0xFF);
          write_file(m / "nt.bzz", z);
        },
        "nt.bzz", "not a valid zlib stream");
  }
  SECTION("a zlib stream cut short") {
    // The second block's compressed size, shortened by half.
    expect_error(
        [](const fs::path& m) {
          const std::string bzs = read_file(m / "nt.bzs");
          const uint32_t csize = uint32_t(uint8_t(bzs[16])) | uint32_t(uint8_t(bzs[17])) << 8;
          patch_u32(m / "nt.bzs", 16, csize / 2);
        },
        "nt.bzz", "truncated zlib stream");
  }
  SECTION("a block that inflates to more than the index says") {
    expect_error([](const fs::path& m) { patch_u32(m / "nt.bzs", 20, 100); }, "nt.bzz", "inflates to more than");
  }
  SECTION("a block that inflates to less than the index says") {
    expect_error(
        [](const fs::path& m) {
          const std::string bzs = read_file(m / "nt.bzs");
          const uint32_t size = uint32_t(uint8_t(bzs[20])) | uint32_t(uint8_t(bzs[21])) << 8;
          patch_u32(m / "nt.bzs", 20, size + 1);
        },
        "nt.bzz", "but the .bzs says");
  }
  SECTION("a block claiming an impossible size") {
    expect_error([](const fs::path& m) { patch_u32(m / "nt.bzs", 20, 0xFFFFFFFFu); }, "nt.bzz",
                 "more than zlib can produce");
  }
}

TEST_CASE("ztext reader survives every truncation and byte flip of a real module", "[sword]") {
  // Whatever the damage, the reader returns or throws Error; never crashes.
  const fs::path src = fs::path(kFixtures) / "spaRV1909eb-3john";
  const std::string files[3] = {"nt.bzs", "nt.bzv", "nt.bzz"};
  int errors = 0, reads = 0;
  for (const std::string& f : files) {
    const std::string bytes = read_file(src / f);
    std::vector<std::string> variants;
    for (size_t n = 0; n < bytes.size(); n += (f == "nt.bzz" ? 97 : 1)) variants.push_back(bytes.substr(0, n));
    for (size_t i = 0; i < bytes.size(); i += (f == "nt.bzz" ? 53 : 1)) {
      std::string flipped = bytes;
      flipped[i] = char(flipped[i] ^ 0xA5);
      variants.push_back(flipped);
    }
    for (const std::string& v : variants) {
      ScratchDir dir("ztext_fuzz");
      for (const std::string& g : files) write_file(dir.path / g, g == f ? v : read_file(src / g));
      try {
        read_ztext_testament(dir.path.string(), Testament::new_testament);
        ++reads;
      } catch (const Error&) {
        ++errors;
      }
    }
  }
  CHECK(errors > 0);
  CHECK(reads > 0);  // flips inside text bytes leave a readable module
}

TEST_CASE("osis_to_text drops notes and tags and keeps the words", "[sword]") {
  // Genesis 1:4 as stored in engKJV2006eb: Strong's numbers, an added word, a footnote.
  const std::string gen_1_4 =
      "And <w lemma=\"strong:H0430\">God</w> <w lemma=\"strong:H7200\">saw</w> the <w "
      "lemma=\"strong:H0216\">light</w>, <w lemma=\"strong:H3588\">that</w> <transChange type=\"added\">it "
      "was</transChange> <w lemma=\"strong:H2896\">good</w>: and <w lemma=\"strong:H0430\">God</w> <w "
      "lemma=\"strong:H0914\">divided</w> the <w lemma=\"strong:H0216\">light</w> <w "
      "lemma=\"strong:H0996\">from</w> the <w lemma=\"strong:H2822\">darkness</w>.<note placement=\"foot\"><reference "
      "type=\"annotateRef\">1.4 </reference>the light from\xE2\x80\xA6: Heb. between the light and between the "
      "darkness</note> ";
  CHECK(osis_to_text(gen_1_4) ==
        "And God saw the light, that it was good: and God divided the light from the darkness.");
  // John 3:16's opening: milestones, a paragraph div, a quotation and the KJV's pilcrow.
  CHECK(osis_to_text("<div type=\"x-milestone\" subType=\"x-preverse\" sID=\"pv5746\"/><div sID=\"gen8359\" "
                     "type=\"x-p\"/> <div type=\"x-milestone\" subType=\"x-preverse\" eID=\"pv5746\"/><q marker=\"\" "
                     "who=\"Jesus\">\xC2\xB6 <w lemma=\"strong:G1063\">For</w> God</q> ") == "For God");
  CHECK(osis_to_text("a<note>x<note>nested</note>y</note>b") == "ab");
  CHECK(osis_to_text("a<note n=\"1\"/>b") == "ab");  // a self-closing note holds nothing
  CHECK(osis_to_text("end.<note>never closed") == "end.");
  CHECK(osis_to_text("one<l/>two<lb/>three<title>Four</title>five") == "one two three Four five");
  CHECK(osis_to_text("<w>wh</w><w>ole</w>") == "whole");  // inline tags join
  CHECK(osis_to_text("a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233; &#xE9;") ==
        "a & b <c> \"d\" 'e' \xC3\xA9 \xC3\xA9");
  CHECK(osis_to_text("&bogus; & &#xD800; &#0;") == "&bogus; & &#xD800; &#0;");
  CHECK(osis_to_text("1 < 2") == "1 < 2");  // no closing '>': text
  CHECK(osis_to_text("  many \t\n spaces  ") == "many spaces");
  CHECK(osis_to_text("").empty());
  CHECK(osis_to_text("<milestone/> <chapter n=\"1\"/>").empty());
  CHECK(osis_to_text("G\xC3\xA9nesis \xC2\xB6") == "G\xC3\xA9nesis");
  // Any markup, however broken, gives text with single spaces and none at the ends.
  std::mt19937 rng(11);
  const std::string alphabet = "<>/note l&;#x1a \t\xC2\xB6=\"";
  for (int trial = 0; trial < 3000; ++trial) {
    std::string s(rng() % 48, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    const std::string t = osis_to_text(s);
    INFO("markup '" << s << "' -> '" << t << "'");
    REQUIRE(t.find("  ") == std::string::npos);
    REQUIRE((t.empty() || (t.front() != ' ' && t.back() != ' ')));
  }
}

TEST_CASE("KJV versification counts and locates verses", "[sword]") {
  const auto& books = kjv_books();
  REQUIRE(books.size() == 66);
  size_t chapters = 0;
  int64_t verses = 0;
  int ot_books = 0;
  for (const KjvBook& b : books) {
    chapters += b.verses.size();
    for (int v : b.verses) verses += v;
    ot_books += b.testament == Testament::old_testament;
  }
  CHECK(ot_books == 39);
  CHECK(chapters == 1189);
  CHECK(verses == 31102);
  CHECK(int64_t(kjv_verses().size()) == verses);
  CHECK(kjv_entry_count(Testament::old_testament) == 24115);
  CHECK(kjv_entry_count(Testament::new_testament) == 8246);
  CHECK(books[18].osis == "Ps");
  CHECK(books[18].verses.size() == 150);
  CHECK(books[18].verses[118] == 176);

  const VerseEntry gen = kjv_locate("Gen.1.1");
  CHECK(gen.testament == Testament::old_testament);
  CHECK(gen.index == 4);
  CHECK(gen.ref == "Gen.1.1");
  CHECK(kjv_locate("Gen.1.2").index == 5);
  CHECK(kjv_locate("Gen.2.1").index == 4 + 31 + 1);  // past chapter 1 and chapter 2's heading
  // Module and testament headings, Genesis (its heading, 50 chapter headings,
  // 1,533 verses), then Exodus's heading and its chapter 1's.
  CHECK(kjv_locate("Exod.1.1").index == 2 + 1 + 50 + 1533 + 2);
  const VerseEntry mal = kjv_locate("Mal.4.6");
  CHECK(mal.index == kjv_entry_count(Testament::old_testament) - 1);
  const VerseEntry matt = kjv_locate("Matt.1.1");
  CHECK(matt.testament == Testament::new_testament);
  CHECK(matt.index == 4);
  const VerseEntry john = kjv_locate("John.3.16");
  CHECK(john.testament == Testament::new_testament);
  CHECK(john.book == 42);
  CHECK(john.chapter == 3);
  CHECK(john.verse == 16);
  CHECK(kjv_locate("Rev.22.21").index == kjv_entry_count(Testament::new_testament) - 1);
  CHECK(kjv_verses().front().ref == "Gen.1.1");
  CHECK(kjv_verses().back().ref == "Rev.22.21");
  // Indices within a testament are increasing and distinct.
  for (size_t i = 1; i < kjv_verses().size(); ++i)
    if (kjv_verses()[i].testament == kjv_verses()[i - 1].testament)
      REQUIRE(kjv_verses()[i].index > kjv_verses()[i - 1].index);

  require_error([] { kjv_locate("Gen.51.1"); }, "Gen has 50 chapters");
  require_error([] { kjv_locate("John.3.37"); }, "John 3 has 36 verses");
  require_error([] { kjv_locate("Jn.3.16"); }, "unknown book 'Jn'");
  require_error([] { kjv_locate("John.3"); }, "not a verse reference");
  require_error([] { kjv_locate("John.x.1"); }, "not a chapter or verse number");
  require_error([] { kjv_locate(""); }, "kjv_locate");
}

TEST_CASE("sword_module_dir follows SWORD_PATH", "[sword]") {
  const char* old = std::getenv("SWORD_PATH");
  const std::string saved = old ? old : "";
  setenv("SWORD_PATH", "/tmp/mysword", 1);
  CHECK(sword_module_dir("engKJV2006eb") == "/tmp/mysword/modules/texts/ztext/engKJV2006eb");
  unsetenv("SWORD_PATH");
  CHECK(sword_module_dir("spaRV1909eb") == "/usr/share/sword/modules/texts/ztext/spaRV1909eb");
  if (old) setenv("SWORD_PATH", saved.c_str(), 1);
}

TEST_CASE("real modules: Genesis 1:1 and John 3:16 in English and Spanish", "[sword]") {
  if (!real_modules_installed()) {
    WARN(kSkipReal);
    return;
  }
  const std::string en_dir = sword_module_dir("engKJV2006eb"), es_dir = sword_module_dir("spaRV1909eb");
  const auto en_ot = read_ztext_testament(en_dir, Testament::old_testament);
  const auto en_nt = read_ztext_testament(en_dir, Testament::new_testament);
  const auto es_ot = read_ztext_testament(es_dir, Testament::old_testament);
  const auto es_nt = read_ztext_testament(es_dir, Testament::new_testament);
  const size_t gen = size_t(kjv_locate("Gen.1.1").index), john = size_t(kjv_locate("John.3.16").index);
  const std::string texts[4] = {osis_to_text(en_ot[gen]), osis_to_text(es_ot[gen]), osis_to_text(en_nt[john]),
                                osis_to_text(es_nt[john])};
  std::cout << "Gen.1.1   en: " << texts[0] << "\n          es: " << texts[1] << "\nJohn.3.16 en: " << texts[2]
            << "\n          es: " << texts[3] << "\n";
  CHECK(texts[0] == "In the beginning God created the heaven and the earth.");
  CHECK(texts[1] == "EN el principio cri\xC3\xB3 Dios los cielos y la tierra.");
  CHECK(texts[2] ==
        "For God so loved the world, that he gave his only begotten Son, that whosoever believeth in him should not "
        "perish, but have everlasting life.");
  CHECK(texts[3] ==
        "Porque de tal manera am\xC3\xB3 Dios al mundo, que ha dado \xC3\xA1 su Hijo unig\xC3\xA9nito, para que todo "
        "aquel que en \xC3\xA9l cree, no se pierda, mas tenga vida eterna.");
  CHECK(osis_to_text(en_ot[gen + 2]) == "And God said, Let there be light: and there was light.");
  CHECK(osis_to_text(es_ot[gen + 2]) == "Y dijo Dios: Sea la luz: y fu\xC3\xA9 la luz.");
}

TEST_CASE("real modules: chapter markers sit where the KJV versification puts chapter headings", "[sword]") {
  if (!real_modules_installed()) {
    WARN(kSkipReal);
    return;
  }
  // Each chapter's heading entry carries <chapter ... sID="Book.N"/>: checks the
  // verse counts of kjv_books() against both modules, all 1,189 chapters.
  for (const char* module : {"engKJV2006eb", "spaRV1909eb"}) {
    const std::string dir = sword_module_dir(module);
    const std::vector<std::string> testaments[2] = {read_ztext_testament(dir, Testament::old_testament),
                                                    read_ztext_testament(dir, Testament::new_testament)};
    REQUIRE(int64_t(testaments[0].size()) == kjv_entry_count(Testament::old_testament));
    REQUIRE(int64_t(testaments[1].size()) == kjv_entry_count(Testament::new_testament));
    size_t checked = 0;
    for (const VerseEntry& v : kjv_verses()) {
      if (v.verse != 1) continue;
      const auto& entries = testaments[v.testament == Testament::old_testament ? 0 : 1];
      const std::string marker = "sID=\"" + kjv_books()[size_t(v.book)].osis + "." + std::to_string(v.chapter) + "\"";
      INFO(module << " " << v.ref << ": heading entry " << v.index - 1);
      REQUIRE(entries[size_t(v.index - 1)].find(marker) != std::string::npos);
      ++checked;
    }
    CHECK(checked == 1189);
  }
}
