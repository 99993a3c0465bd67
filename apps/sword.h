// Reading Bibles from SWORD modules: the zText files Debian's sword-text-*
// packages install, the OSIS markup inside them, and the KJV versification
// that says which entry of a module is which verse. apps/parallel builds the
// English-Spanish translation corpus on top of this.
//
// A zText module is a directory holding, for each testament t in {ot, nt}:
//   t.bzs  one little-endian record {u32 offset, u32 compressed_size, u32 size}
//          per block of t.bzz
//   t.bzv  one packed little-endian record {u32 block, u32 start, u16 length}
//          (10 bytes) per entry
//   t.bzz  the blocks, each one zlib stream (a module's blocks are usually one
//          book each)
// Entry i is bytes [start, start + length) of block `block` once inflated;
// length 0 is an empty entry. The entries of a KJV-versified testament are: 0
// the module heading, 1 the testament heading, then for each book its heading
// and for each chapter its heading followed by its verses, so Genesis 1:1 is
// entry 4 of ot. Two KJV modules therefore share every verse's index, whatever
// language they are in.
//
//   std::vector<std::string> ot = read_ztext_testament(sword_module_dir("engKJV2006eb"), Testament::old_testament);
//   VerseEntry v = kjv_locate("Gen.1.1");                 // {old_testament, index 4, ...}
//   std::string text = osis_to_text(ot[size_t(v.index)]);  // "In the beginning God created the heaven and the earth."
//
// Everything here throws moegrad::Error on bad input; a damaged file is named
// in the message and never read out of bounds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moegrad::app {

enum class Testament { old_testament, new_testament };

// "ot" or "nt": the stem of the testament's file names.
const char* testament_stem(Testament t);

// Every entry of one testament of the zText module in `dir`, as the raw
// markup stored there ("" for an empty entry), in index order.
// Requires dir/<t>.bzs, .bzv and .bzz. Each block that some entry uses is
// inflated once and must inflate to exactly the size .bzs gives; bytes after
// the end of a block's zlib stream are ignored (SWORD pads some blocks with
// zeros). Blocks no entry uses are not read. An Error names the file and what
// is wrong: missing or unreadable, a size that is not a whole number of
// records, an entry whose block is not in .bzs, a block reaching past the end
// of .bzz, a corrupt or truncated zlib stream, a block inflating to another
// size than .bzs says, an entry reaching past the end of its block.
std::vector<std::string> read_ztext_testament(const std::string& dir, Testament t);

// The plain text of one entry's markup (OSIS; ThML's tags read the same way):
//  - <note ...>...</note> goes with everything inside it (footnotes and
//    cross-references are not the verse), nested notes included;
//  - every other tag goes and its content stays (<w lemma=...>word</w> ->
//    word, <transChange>, <divineName>, <q>, <title> of a psalm, ...);
//    structural tags (l, lg, lb, p, br, div, chapter, title, milestone) read as
//    a space so that they never join two words;
//  - the XML entities &amp; &lt; &gt; &quot; &apos; and &#N; / &#xN; are
//    decoded (an unknown entity stays as written);
//  - the pilcrow U+00B6 is dropped (the KJV marks paragraphs with it; it is
//    typesetting, not text);
//  - runs of ASCII whitespace become one space, with none at either end.
// A '<' with no closing '>' is kept as text; a <note> that is never closed
// drops the rest of the entry. Never throws.
std::string osis_to_text(const std::string& markup);

// ---- KJV versification ----

struct KjvBook {
  std::string osis;  // OSIS book id: "Gen", "Exod", ..., "Rev"
  Testament testament;
  std::vector<int> verses;  // verses[c - 1]: the number of verses of chapter c
};

// The 66 books in canonical order (39 in ot, 27 in nt): 1,189 chapters and
// 31,102 verses, the layout SWORD calls "KJV".
const std::vector<KjvBook>& kjv_books();

// The number of entries of a KJV-versified testament: 24,115 for ot, 8,246
// for nt (headings included).
int64_t kjv_entry_count(Testament t);

struct VerseEntry {
  std::string ref;  // "Book.chapter.verse", e.g. "John.3.16"
  int book = 0;     // index into kjv_books()
  int chapter = 0;  // from 1
  int verse = 0;    // from 1
  Testament testament = Testament::old_testament;
  int64_t index = 0;  // the entry index in that testament's module
};

// All 31,102 verses in canonical order (Gen.1.1 first, Rev.22.21 last).
const std::vector<VerseEntry>& kjv_verses();

// The verse "Book.chapter.verse" (OSIS book id, case-sensitive: "John.3.16").
// Error naming the reference when the book is unknown or the chapter or verse
// does not exist in the KJV.
VerseEntry kjv_locate(const std::string& ref);

// Where SWORD module `module` (e.g. "engKJV2006eb") lives:
// <root>/modules/texts/ztext/<module>, with root = $SWORD_PATH when set and
// non-empty, else /usr/share/sword (where Debian installs them). Only builds
// the path; it need not exist.
std::string sword_module_dir(const std::string& module);

}  // namespace moegrad::app
