//===- ServeCommand.cpp - `llmc serve`: an OpenAI-compatible HTTP server --===//
//
//   llmc serve model.so --port N [--host 127.0.0.1] [--kv-budget-mb M]
//       [--block-size 8] [--max-batch-tokens T] [--queue-limit Q] [--model-name NAME]
//
// HTTP (cpp-httplib) in front of the serving engine of include/llmc/llmc_serving.h:
// /v1/completions, /v1/chat/completions (ChatML prompt, SSE streaming),
// /v1/models, /health, /metrics (Prometheus). Each HTTP request runs on a
// worker thread that submits to the engine and waits on a per-request
// channel the engine's callback fills. Errors are OpenAI-style JSON bodies.
// docs/Serving.md documents the endpoints.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "llmc/llmc_serving.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace llvm;
using json = nlohmann::json;

namespace llmc::tool {

cl::SubCommand serveCmd("serve", "Serve a library made by `llmc compile` over an OpenAI-compatible HTTP API");

namespace {
cl::OptionCategory cat("llmc serve options");
cl::opt<std::string> library(cl::Positional, cl::desc("<model.so>"), cl::Required, cl::sub(serveCmd));
cl::opt<int> port("port", cl::desc("TCP port (0: any free port, printed at start)"), cl::Required,
                  cl::sub(serveCmd), cl::cat(cat));
cl::opt<std::string> host("host", cl::desc("Address to listen on (default 127.0.0.1)"),
                          cl::init("127.0.0.1"), cl::sub(serveCmd), cl::cat(cat));
cl::opt<int> kvBudgetMb("kv-budget-mb", cl::desc("KV-cache memory budget in MiB (default 256)"),
                        cl::init(256), cl::sub(serveCmd), cl::cat(cat));
cl::opt<int> blockSize("block-size", cl::desc("Tokens per KV block (default 8)"), cl::init(8),
                       cl::sub(serveCmd), cl::cat(cat));
cl::opt<int> maxBatchTokens("max-batch-tokens",
                            cl::desc("Tokens per scheduler step, decode + prompt chunks (default 512)"),
                            cl::init(512), cl::sub(serveCmd), cl::cat(cat));
cl::opt<int> queueLimit("queue-limit",
                        cl::desc("Waiting requests before answering 429 (default 128)"),
                        cl::init(128), cl::sub(serveCmd), cl::cat(cat));
cl::opt<int> maxRunning("max-running", cl::desc("Sequences running at once (default 64)"),
                        cl::init(64), cl::sub(serveCmd), cl::cat(cat));
cl::opt<int> maxContext("max-context",
                        cl::desc("Tokens per sequence, prompt + output (default 2048)"),
                        cl::init(2048), cl::sub(serveCmd), cl::cat(cat));
cl::opt<std::string> modelName("model-name",
                               cl::desc("Model id clients must name (default: library file name "
                                        "without .so)"),
                               cl::init(""), cl::sub(serveCmd), cl::cat(cat));
cl::opt<std::string> addBos("add-bos",
                            cl::desc("BOS before text prompts: auto (as the tokenizer says), yes, no"),
                            cl::init("auto"), cl::sub(serveCmd), cl::cat(cat));
cl::opt<int> executorThreads(
    "executor-threads",
    cl::desc("Threads running the sequences of a step (default 1); with N > 1 and no "
             "LLMC_NUM_THREADS set, the model's kernels get cores / N threads each"),
    cl::init(1), cl::sub(serveCmd), cl::cat(cat));
cl::opt<std::string> executorKind(
    "executor",
    cl::desc("How a step runs: paged (default: one compiled batch step, KV in the budget's "
             "blocks; needs a library with a batch step) or sessions (one session per sequence)"),
    cl::init("paged"), cl::sub(serveCmd), cl::cat(cat));
cl::opt<int> httpThreads("http-threads",
                         cl::desc("HTTP worker threads (default: max-running + queue-limit + 16)"),
                         cl::init(0), cl::sub(serveCmd), cl::cat(cat));

std::atomic<bool> stopRequested{false};
extern "C" void onSignal(int) { stopRequested = true; }

//--- Errors ------------------------------------------------------------------

/// An OpenAI-style error: {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int status;
  std::string message, type, code, param;
};

void sendError(httplib::Response &res, const ApiError &e) {
  json body = {{"error",
                {{"message", e.message},
                 {"type", e.type},
                 {"param", e.param.empty() ? json(nullptr) : json(e.param)},
                 {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
  res.status = e.status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

ApiError badRequest(std::string msg, std::string param = "") {
  return {400, std::move(msg), "invalid_request_error", "", std::move(param)};
}

std::string dumpJson(const json &j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

//--- One request's output, filled by the engine's callback --------------------

struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> texts; // text pieces not yet consumed
  int32_t promptTokens = 0, completionTokens = 0;
  llmc_finish_reason finish = LLMC_FINISH_NONE;
  std::string error;
  bool done = false;
};

// user_data is a heap copy of the channel's shared_ptr; the last event frees it,
// so the channel outlives the HTTP handler if the client went away first.
void onEvent(const llmc_request_event *ev, void *user) {
  auto *holder = static_cast<std::shared_ptr<Channel> *>(user);
  Channel &ch = **holder;
  {
    std::lock_guard<std::mutex> l(ch.mu);
    if (ev->text_length)
      ch.texts.emplace_back(ev->text, ev->text_length);
    ch.promptTokens = ev->prompt_tokens;
    ch.completionTokens = ev->completion_tokens;
    if (ev->finish != LLMC_FINISH_NONE) {
      ch.finish = ev->finish;
      ch.error = ev->error ? ev->error : "";
      ch.done = true;
    }
  }
  ch.cv.notify_all();
  if (ev->finish != LLMC_FINISH_NONE)
    delete holder;
}

const char *finishName(llmc_finish_reason r) {
  return r == LLMC_FINISH_LENGTH ? "length" : "stop";
}

//--- Request parsing ---------------------------------------------------------

struct Job {
  bool chat = false;
  bool stream = false;
  bool includeUsage = false;
  std::string text;             // prompt text, or
  std::vector<int32_t> tokens;  // prompt token ids
  bool useTokens = false;
  llmc_request_params params;
  std::vector<std::string> stops;
  std::vector<const char *> stopPtrs;
};

class Server {
public:
  Server(llmc_engine *engine, std::string name, bool bos)
      : engine_(engine), name_(std::move(name)), bos_(bos) {}

  void install(httplib::Server &http) {
    http.Get("/health", [](const httplib::Request &, httplib::Response &res) {
      res.set_content("{\"status\":\"ok\"}", "application/json");
    });
    http.Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
      res.set_content(llmc_engine_metrics(engine_), "text/plain; version=0.0.4");
    });
    http.Get("/v1/models", [this](const httplib::Request &, httplib::Response &res) {
      res.set_content(dumpJson({{"object", "list"}, {"data", json::array({modelCard()})}}),
                      "application/json");
    });
    http.Get(R"(/v1/models/(.+))", [this](const httplib::Request &req, httplib::Response &res) {
      if (req.matches[1] != name_)
        return sendError(res, unknownModel(req.matches[1]));
      res.set_content(dumpJson(modelCard()), "application/json");
    });
    http.Post("/v1/completions", [this](const httplib::Request &req, httplib::Response &res) {
      handle(req, res, /*chat=*/false);
    });
    http.Post("/v1/chat/completions", [this](const httplib::Request &req, httplib::Response &res) {
      handle(req, res, /*chat=*/true);
    });
    // Anything else that fails without a body (unknown route, wrong method)
    // still answers in the OpenAI error format.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request &req, httplib::Response &res) {
      if (!res.body.empty())
        return httplib::Server::HandlerResponse::Unhandled;
      sendError(res, {res.status, "no route for " + req.method + " " + req.path,
                      "invalid_request_error", res.status == 404 ? "unknown_url" : "", ""});
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler(
        [](const httplib::Request &, httplib::Response &res, std::exception_ptr ep) {
          std::string what = "internal error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception &e) {
            what = e.what();
          } catch (...) {
          }
          sendError(res, {500, what, "server_error", "", ""});
        });
  }

private:
  json modelCard() const {
    return {{"id", name_}, {"object", "model"}, {"created", (int64_t)std::time(nullptr)},
            {"owned_by", "llmc"}};
  }
  ApiError unknownModel(const std::string &m) const {
    return {404, "The model '" + m + "' does not exist; this server serves '" + name_ + "'",
            "invalid_request_error", "model_not_found", "model"};
  }

  /// Reads the body into a Job; returns false with *err on a bad request.
  bool parse(const httplib::Request &req, bool chat, Job &job, ApiError &err) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::exception &e) {
      err = badRequest(std::string("malformed JSON body: ") + e.what());
      return false;
    }
    if (!body.is_object()) {
      err = badRequest("the request body must be a JSON object");
      return false;
    }
    try {
      return parseFields(body, chat, job, err);
    } catch (const json::exception &e) { // a field of the wrong type
      err = badRequest(std::string("invalid field: ") + e.what());
      return false;
    }
  }

  bool parseFields(const json &b, bool chat, Job &job, ApiError &err) {
    job.chat = chat;
    if (b.contains("model") && !b["model"].is_null() && b["model"].get<std::string>() != name_) {
      err = unknownModel(b["model"].get<std::string>());
      return false;
    }
    if (b.contains("n") && !b["n"].is_null() && b["n"].get<int>() != 1) {
      err = badRequest("only n = 1 is supported", "n");
      return false;
    }
    for (const char *unsupported : {"logprobs", "top_logprobs", "suffix", "tools", "functions"})
      if (b.contains(unsupported) && !b[unsupported].is_null() && b[unsupported] != false) {
        err = badRequest(std::string("'") + unsupported + "' is not supported", unsupported);
        return false;
      }
    if (b.value("echo", false)) {
      err = badRequest("'echo' is not supported", "echo");
      return false;
    }
    llmc_request_params_init(&job.params);
    job.stream = b.value("stream", false);
    if (b.contains("stream_options") && b["stream_options"].is_object())
      job.includeUsage = b["stream_options"].value("include_usage", false);
    auto number = [&](const char *key, double def) {
      return b.contains(key) && !b[key].is_null() ? b[key].get<double>() : def;
    };
    job.params.temperature = (float)number("temperature", 1.0);
    job.params.top_p = (float)number("top_p", 1.0);
    job.params.top_k = (int32_t)number("top_k", 0);
    if (job.params.temperature < 0 || job.params.temperature > 2) {
      err = badRequest("temperature must be in [0, 2]", "temperature");
      return false;
    }
    if (job.params.top_p <= 0 || job.params.top_p > 1) {
      err = badRequest("top_p must be in (0, 1]", "top_p");
      return false;
    }
    if (b.contains("seed") && !b["seed"].is_null())
      job.params.seed = b["seed"].get<uint64_t>();
    else
      job.params.seed = std::random_device()() * 0x100000001ull;
    // max_tokens: 16 for completions (OpenAI's default), unlimited for chat.
    double maxTok = number("max_completion_tokens", number("max_tokens", chat ? 0 : 16));
    if (maxTok < 0 || (b.contains("max_tokens") && !b["max_tokens"].is_null() && maxTok < 1)) {
      err = badRequest("max_tokens must be at least 1", "max_tokens");
      return false;
    }
    job.params.max_tokens = (int32_t)maxTok;
    job.params.ignore_eos = b.value("ignore_eos", false) ? 1 : 0;
    if (b.contains("stop") && !b["stop"].is_null()) {
      if (b["stop"].is_string())
        job.stops.push_back(b["stop"].get<std::string>());
      else
        for (const auto &s : b["stop"])
          job.stops.push_back(s.get<std::string>());
    }
    if (chat) {
      if (!b.contains("messages") || !b["messages"].is_array() || b["messages"].empty()) {
        err = badRequest("'messages' must be a non-empty array", "messages");
        return false;
      }
      // ChatML, as `llmc run --chat` writes it.
      for (const auto &m : b["messages"]) {
        std::string role = m.at("role").get<std::string>();
        if (role != "system" && role != "user" && role != "assistant" && role != "developer") {
          err = badRequest("unsupported message role '" + role + "'", "messages");
          return false;
        }
        std::string content;
        const json &c = m.at("content");
        if (c.is_string())
          content = c.get<std::string>();
        else if (c.is_array())
          for (const auto &part : c)
            content += part.value("type", "") == "text" ? part.at("text").get<std::string>() : "";
        else if (!c.is_null()) {
          err = badRequest("message content must be a string or an array of text parts", "messages");
          return false;
        }
        job.text += "<|im_start|>" + role + "\n" + content + "<|im_end|>\n";
      }
      job.text += "<|im_start|>assistant\n";
      job.stops.push_back("<|im_end|>"); // the end of the turn, should the model write it as text
    } else {
      if (!b.contains("prompt")) {
        err = badRequest("'prompt' is required", "prompt");
        return false;
      }
      const json &p = b["prompt"];
      if (p.is_string()) {
        job.text = p.get<std::string>();
      } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
        job.useTokens = true;
        for (const auto &t : p)
          job.tokens.push_back(t.get<int32_t>());
      } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
        job.text = p[0].get<std::string>();
      } else if (p.is_array() && p.size() == 1 && p[0].is_array()) {
        job.useTokens = true;
        for (const auto &t : p[0])
          job.tokens.push_back(t.get<int32_t>());
      } else {
        err = badRequest("'prompt' must be a string, a list of token ids, or a list with one of "
                         "those (batches are not supported)",
                         "prompt");
        return false;
      }
    }
    for (const auto &s : job.stops)
      job.stopPtrs.push_back(s.c_str());
    job.params.stop = job.stopPtrs.data();
    job.params.num_stop = job.stopPtrs.size();
    return true;
  }

  /// Submits the job; on failure fills *err with the HTTP mapping of the status.
  bool submit(Job &job, const std::shared_ptr<Channel> &ch, uint64_t &id, ApiError &err) {
    auto *holder = new std::shared_ptr<Channel>(ch);
    llmc_serving_status s =
        job.useTokens
            ? llmc_engine_submit(engine_, job.tokens.data(), job.tokens.size(), &job.params,
                                 onEvent, holder, &id)
            : llmc_engine_submit_text(engine_, job.text.c_str(), bos_, &job.params, onEvent,
                                      holder, &id);
    if (s == LLMC_SERVING_OK)
      return true;
    delete holder; // never queued: no event will free it
    std::string msg = llmc_engine_last_error();
    switch (s) {
    case LLMC_SERVING_QUEUE_FULL:
      err = {429, msg, "rate_limit_error", "rate_limit_exceeded", ""};
      break;
    case LLMC_SERVING_PROMPT_TOO_LONG:
      err = {400, msg, "invalid_request_error", "context_length_exceeded",
             job.chat ? "messages" : "prompt"};
      break;
    case LLMC_SERVING_INVALID_ARGUMENT:
    case LLMC_SERVING_UNSUPPORTED:
      err = badRequest(msg);
      break;
    case LLMC_SERVING_SHUT_DOWN:
      err = {503, msg, "server_error", "", ""};
      break;
    default:
      err = {500, msg, "server_error", "", ""};
    }
    return false;
  }

  void handle(const httplib::Request &req, httplib::Response &res, bool chat) {
    auto job = std::make_shared<Job>();
    ApiError err;
    if (!parse(req, chat, *job, err))
      return sendError(res, err);
    auto ch = std::make_shared<Channel>();
    uint64_t id = 0;
    if (!submit(*job, ch, id, err)) {
      if (err.status == 429)
        res.set_header("Retry-After", "1");
      return sendError(res, err);
    }
    std::string rid = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(id);
    int64_t created = std::time(nullptr);
    if (job->stream)
      return stream(res, job, ch, id, rid, created);

    std::unique_lock<std::mutex> l(ch->mu);
    ch->cv.wait(l, [&] { return ch->done; });
    std::string text;
    for (auto &t : ch->texts)
      text += t;
    if (ch->finish == LLMC_FINISH_ERROR || ch->finish == LLMC_FINISH_CANCELLED)
      return sendError(res, {ch->finish == LLMC_FINISH_ERROR ? 500 : 503,
                             ch->error.empty() ? "the request was cancelled" : ch->error,
                             "server_error", "", ""});
    json choice = {{"index", 0}, {"finish_reason", finishName(ch->finish)}, {"logprobs", nullptr}};
    if (chat)
      choice["message"] = {{"role", "assistant"}, {"content", text}};
    else
      choice["text"] = text;
    json body = {{"id", rid},
                 {"object", chat ? "chat.completion" : "text_completion"},
                 {"created", created},
                 {"model", name_},
                 {"choices", json::array({choice})},
                 {"usage", usage(*ch)}};
    res.set_content(dumpJson(body), "application/json");
  }

  static json usage(const Channel &ch) {
    return {{"prompt_tokens", ch.promptTokens},
            {"completion_tokens", ch.completionTokens},
            {"total_tokens", ch.promptTokens + ch.completionTokens}};
  }

  /// Server-sent events: one `data: {chunk}` per piece of text, a last chunk
  /// with finish_reason, optionally a usage chunk, then `data: [DONE]`.
  void stream(httplib::Response &res, std::shared_ptr<Job> job, std::shared_ptr<Channel> ch,
              uint64_t id, std::string rid, int64_t created) {
    res.set_header("Cache-Control", "no-cache");
    auto finished = std::make_shared<bool>(false);
    bool chat = job->chat;
    auto chunk = [this, rid, created, chat](const json &delta, const json &finish) {
      json choice = {{"index", 0}, {"finish_reason", finish}};
      if (chat)
        choice["delta"] = delta;
      else {
        choice["text"] = delta.value("content", "");
        choice["logprobs"] = nullptr;
      }
      json c = {{"id", rid},
                {"object", chat ? "chat.completion.chunk" : "text_completion"},
                {"created", created},
                {"model", name_},
                {"choices", json::array({choice})}};
      return "data: " + dumpJson(c) + "\n\n";
    };
    auto sentRole = std::make_shared<bool>(false);
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, ch, job, finished, sentRole, chunk, rid, created, chat](size_t, httplib::DataSink &sink) {
          std::string out;
          if (chat && !*sentRole) {
            out += chunk({{"role", "assistant"}, {"content", ""}}, nullptr);
            *sentRole = true;
          }
          bool done;
          {
            std::unique_lock<std::mutex> l(ch->mu);
            // Wake up at least every 250 ms: a comment line then tells
            // whether the client is still there while the request waits.
            ch->cv.wait_for(l, std::chrono::milliseconds(250),
                            [&] { return ch->done || !ch->texts.empty(); });
            for (auto &t : ch->texts)
              out += chunk({{"content", t}}, nullptr);
            ch->texts.clear();
            done = ch->done;
          }
          if (done) {
            if (ch->finish == LLMC_FINISH_ERROR || ch->finish == LLMC_FINISH_CANCELLED) {
              json e = {{"error",
                         {{"message", ch->error.empty() ? "the request was cancelled" : ch->error},
                          {"type", "server_error"}}}};
              out += "data: " + dumpJson(e) + "\n\n";
            } else {
              out += chunk(json::object(), finishName(ch->finish));
              if (job->includeUsage) {
                json u = {{"id", rid},
                          {"object", chat ? "chat.completion.chunk" : "text_completion"},
                          {"created", created},
                          {"model", name_},
                          {"choices", json::array()},
                          {"usage", usage(*ch)}};
                out += "data: " + dumpJson(u) + "\n\n";
              }
            }
            out += "data: [DONE]\n\n";
          }
          if (out.empty())
            out = ": keep-alive\n\n";
          if (!sink.write(out.data(), out.size()))
            return false; // the client went away: the releaser cancels
          if (done) {
            *finished = true;
            sink.done();
          }
          return true;
        },
        [this, id, finished](bool) {
          if (!*finished)
            llmc_engine_cancel(engine_, id); // disconnect mid-stream
        });
  }

  llmc_engine *engine_;
  std::string name_;
  int bos_;
};

int fail(const Twine &msg, int code = 1) {
  errs() << "llmc serve: " << msg << "\n";
  return code;
}

/// cpp-httplib 0.11 listens with a backlog of 5 (compiled into Debian's
/// library), so a burst of clients overflows the accept queue and some get
/// reset. listen() again on the bound socket raises the backlog.
void raiseListenBacklog(int port) {
  for (int fd = 0; fd < 1024; ++fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
      continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (getsockname(fd, (sockaddr *)&addr, &alen) != 0)
      continue;
    int p = addr.ss_family == AF_INET ? ntohs(((sockaddr_in *)&addr)->sin_port)
            : addr.ss_family == AF_INET6 ? ntohs(((sockaddr_in6 *)&addr)->sin6_port)
                                         : -1;
    if (p == port)
      ::listen(fd, SOMAXCONN);
  }
}
} // namespace

int runServe() {
  if (port < 0 || port > 65535)
    return fail("--port must be in 0..65535", 2);
  if (kvBudgetMb <= 0 || blockSize <= 0 || maxBatchTokens <= 0 || queueLimit < 0 ||
      maxRunning <= 0 || maxContext < 2)
    return fail("--kv-budget-mb, --block-size, --max-batch-tokens and --max-running must be > 0, "
                "--queue-limit >= 0, --max-context >= 2",
                2);
  if (addBos != "auto" && addBos != "yes" && addBos != "no")
    return fail("--add-bos must be auto, yes or no", 2);
  if (executorThreads < 1 || executorThreads > 256)
    return fail("--executor-threads must be in 1..256", 2);
  if (executorKind != "paged" && executorKind != "sessions")
    return fail("--executor must be paged or sessions", 2);
  if (executorThreads > 1 && executorKind == "sessions" && !std::getenv("LLMC_NUM_THREADS")) {
    // Before the library starts its kernel thread pool (it reads this once).
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    std::string n = std::to_string(std::max(1u, cores / (unsigned)executorThreads));
    setenv("LLMC_NUM_THREADS", n.c_str(), 0);
  }
  llmc_api api;
  llmc_model *model = nullptr;
  if (std::string error; !loadModel(library, api, model, error))
    return fail(error);
  if (!api.model_is_causal_lm(model))
    return fail("'" + library + "' is not a causal language model");
  bool bos = addBos == "yes";
  if (addBos == "auto") {
    // Newer libraries say whether their tokenizer adds BOS; looked up by hand
    // so libraries without the entry point still load.
    int (*addBosFn)(const llmc_model *) = nullptr;
    *(void **)(&addBosFn) = dlsym(api.handle, "llmc_token_add_bos");
    bos = addBosFn && addBosFn(model);
  }

  llmc_engine_options opts;
  llmc_engine_options_init(&opts);
  opts.block_size = blockSize;
  opts.kv_budget_bytes = (int64_t)kvBudgetMb << 20;
  opts.max_batch_tokens = maxBatchTokens;
  opts.max_running = maxRunning;
  opts.queue_limit = queueLimit;
  opts.max_context = maxContext;
  opts.executor_threads = executorThreads;
  opts.paged = executorKind == "paged";
  llmc_engine *engine = nullptr;
  if (llmc_engine_create(&api, model, &opts, &engine) != LLMC_SERVING_OK)
    return fail(llmc_engine_last_error());
  llmc_engine_get_options(engine, &opts);
  llmc_engine_stats st;
  llmc_engine_get_stats(engine, &st);

  std::string name = modelName;
  if (name.empty()) {
    name = StringRef(library).rsplit('/').second.empty() ? library
                                                         : StringRef(library).rsplit('/').second.str();
    if (StringRef(name).ends_with(".so"))
      name = name.substr(0, name.size() - 3);
  }

  std::signal(SIGPIPE, SIG_IGN); // a vanished client must not kill the server
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);

  httplib::Server http;
  // Every in-flight request holds a worker thread while it waits for tokens.
  int threads = httpThreads > 0 ? (int)httpThreads : opts.max_running + opts.queue_limit + 16;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_keep_alive_max_count(1000);
  http.set_read_timeout(30);
  http.set_write_timeout(30);
  Server server(engine, name, bos);
  server.install(http);

  int bound = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? (int)port : -1);
  if (bound < 0) {
    llmc_engine_destroy(engine);
    return fail("cannot listen on " + host + ":" + std::to_string(port));
  }
  raiseListenBacklog(bound);
  errs() << "llmc serve: model '" << name << "' on http://" << host << ":" << bound << " (KV budget "
         << kvBudgetMb << " MiB = " << st.kv_blocks_total << " blocks of " << opts.block_size
         << " tokens, max batch " << opts.max_batch_tokens << " tokens, " << opts.max_running
         << " running, queue " << opts.queue_limit << ", context " << opts.max_context
         << ", BOS " << (bos ? "added" : "not added") << ", "
         << (opts.paged ? std::string("paged batch step")
                        : "sessions, " + std::to_string(opts.executor_threads) +
                              " executor thread(s)")
         << ")\n";
  if (executorKind == "paged" && !opts.paged)
    errs() << "llmc serve: this library has no batch step; running one session per sequence\n";
  errs().flush();

  std::thread watcher([&] {
    while (!stopRequested)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Cancel what is in flight first, so handlers waiting for tokens return
    // and the HTTP worker threads can be joined.
    llmc_engine_shutdown(engine);
    http.stop();
  });
  bool ok = http.listen_after_bind();
  stopRequested = true;
  watcher.join();
  llmc_engine_destroy(engine);
  api.model_close(model);
  errs() << "llmc serve: stopped\n";
  return ok ? 0 : 1;
}

} // namespace llmc::tool
