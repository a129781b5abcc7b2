//===- tokenize_main.cpp - llmc-tokenize command-line tool ----------------===//
//
//   llmc-tokenize TOKENIZER.json [--file F | --text T] [--bos] [--lines]
//                 [--decode] [--skip-special] [--stats] [--info]
//
// Encode (default): prints the ids space-separated on one line. With --lines
// every '\n'-separated line of the input is encoded on its own and printed on
// its own output line (an input ending in '\n' gives a last, empty line).
// --decode: the input is whitespace-separated ids; the decoded bytes are
// written as they are, with no newline added. Input is read from stdin when
// neither --file nor --text is given. --stats prints timing to stderr.
// --info prints vocabulary size, BOS/EOS and the chat template.
//
//===----------------------------------------------------------------------===//

#include "Tokenizer.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: llmc-tokenize TOKENIZER.json [--file F | --text T] "
               "[--bos] [--lines] [--decode] [--skip-special] [--stats] "
               "[--info]\n");
}

bool readAll(std::istream &in, std::string *out) {
  std::ostringstream buf;
  buf << in.rdbuf();
  *out = buf.str();
  return !in.bad();
}

void printIds(const std::vector<int32_t> &ids, std::string &out) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i)
      out += ' ';
    out += std::to_string(ids[i]);
  }
  out += '\n';
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  std::string tokPath, file, text;
  bool haveFile = false, haveText = false, bos = false, decode = false,
       lines = false, skipSpecial = false, stats = false, info = false;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (!std::strcmp(a, "--file") && i + 1 < argc) {
      file = argv[++i];
      haveFile = true;
    } else if (!std::strcmp(a, "--text") && i + 1 < argc) {
      text = argv[++i];
      haveText = true;
    } else if (!std::strcmp(a, "--bos")) {
      bos = true;
    } else if (!std::strcmp(a, "--decode")) {
      decode = true;
    } else if (!std::strcmp(a, "--lines")) {
      lines = true;
    } else if (!std::strcmp(a, "--skip-special")) {
      skipSpecial = true;
    } else if (!std::strcmp(a, "--stats")) {
      stats = true;
    } else if (!std::strcmp(a, "--info")) {
      info = true;
    } else if (!std::strcmp(a, "-h") || !std::strcmp(a, "--help")) {
      usage();
      return 0;
    } else if (a[0] == '-' && a[1] != '\0') {
      std::fprintf(stderr, "llmc-tokenize: unknown option '%s'\n", a);
      usage();
      return 2;
    } else if (tokPath.empty()) {
      tokPath = a;
    } else {
      std::fprintf(stderr, "llmc-tokenize: unexpected argument '%s'\n", a);
      usage();
      return 2;
    }
  }
  if (tokPath.empty() || (haveFile && haveText)) {
    usage();
    return 2;
  }

  auto t0 = std::chrono::steady_clock::now();
  std::string error;
  auto tok = llmc::rt::Tokenizer::fromFile(tokPath, &error);
  if (!tok) {
    std::fprintf(stderr, "llmc-tokenize: %s\n", error.c_str());
    return 1;
  }
  auto t1 = std::chrono::steady_clock::now();

  if (info) {
    std::printf("vocab_size %d\nbos %d\neos %d\nadd_bos %d\n", tok->vocabSize(),
                tok->bosId(), tok->eosId(), tok->addBosByDefault() ? 1 : 0);
    std::printf("chat_template %s\n", tok->chatTemplate().c_str());
    return 0;
  }

  if (haveFile) {
    std::ifstream in(file, std::ios::binary);
    if (!in || !readAll(in, &text)) {
      std::fprintf(stderr, "llmc-tokenize: cannot read '%s'\n", file.c_str());
      return 1;
    }
  } else if (!haveText) {
    if (!readAll(std::cin, &text)) {
      std::fprintf(stderr, "llmc-tokenize: cannot read stdin\n");
      return 1;
    }
  }

  std::string out;
  size_t count = 0;
  auto t2 = std::chrono::steady_clock::now();
  if (decode) {
    std::vector<int32_t> ids;
    std::istringstream in(text);
    std::string word;
    while (in >> word) {
      char *end = nullptr;
      long v = std::strtol(word.c_str(), &end, 10);
      if (*end != '\0') {
        std::fprintf(stderr, "llmc-tokenize: not a token id: '%s'\n",
                     word.c_str());
        return 1;
      }
      ids.push_back(static_cast<int32_t>(v));
    }
    count = ids.size();
    out = tok->decode(ids, skipSpecial);
  } else if (lines) {
    size_t start = 0;
    while (true) {
      size_t nl = text.find('\n', start);
      std::string_view line(text.data() + start,
                            (nl == std::string::npos ? text.size() : nl) - start);
      auto ids = tok->encode(line, bos);
      count += ids.size();
      printIds(ids, out);
      if (nl == std::string::npos)
        break;
      start = nl + 1;
    }
  } else {
    auto ids = tok->encode(text, bos);
    count = ids.size();
    printIds(ids, out);
  }
  auto t3 = std::chrono::steady_clock::now();
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (stats) {
    auto ms = [](auto a, auto b) {
      return std::chrono::duration<double, std::milli>(b - a).count();
    };
    std::fprintf(stderr,
                 "llmc-tokenize: load %.1f ms; %s %zu bytes / %zu tokens in "
                 "%.1f ms\n",
                 ms(t0, t1), decode ? "decoded" : "encoded", decode ? out.size()
                 : text.size(), count, ms(t2, t3));
  }
  return 0;
}
