"""`llmc serve` on a compiled stories260K, driven by the official `openai` client.

References are independent of the server: the greedy story llama2.c's run.c printed
(shared/DATA.md), and greedy generation with ONNX Runtime on the exported ONNX graph,
tokenized and detokenized by the Hugging Face `tokenizers` library.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

EOS = 2
MODEL = "stories260k"

PROMPTS = [
    "Once upon a time",
    "Tom and Sam went to the park",
    "The little cat",
    "One day, a girl named Lily found a",
    "There was a big dog",
    "Mom said",
    "The sun was hot and",
    "A bird sat on a tree",
    "Ben had a red ball",
    "The boy was sad because",
    "In the forest there lived",
    "Lucy liked to",
    "The car was fast",
    "Anna and her mom baked",
    "Max saw a frog",
    "It was a rainy day",
]


def chatml(messages):
    """The ChatML prompt llmc serve builds (as `llmc run --chat`), written out here."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + "<|im_start|>assistant\n"


class Reference:
    """Greedy continuation by ONNX Runtime, text by the `tokenizers` library."""

    def __init__(self, tok, session):
        self.tok, self.session = tok, session
        self.cache = {}

    def __call__(self, prompt_text: str, n: int):
        key = (prompt_text, n)
        if key not in self.cache:
            from llmc_tools.ort_generate import generate

            ids = self.tok.encode(prompt_text).ids  # BOS from the tokenizer's post-processor
            gen = generate(self.session, ids, n, stop_ids=(EOS,)).ids
            finish = "stop" if gen and gen[-1] == EOS else "length"
            gen = [t for t in gen if t != EOS]
            head, full = self.tok.decode(ids), self.tok.decode(ids + gen)
            assert full.startswith(head)
            self.cache[key] = (full[len(head):], finish, len(ids), len(gen))
        return self.cache[key]


@pytest.fixture(scope="module")
def ref(hf_tokenizer, ort_session):
    return Reference(hf_tokenizer, ort_session)


@pytest.fixture(scope="module")
def client(server):
    return server.client()


def stream_text(chunks, chat):
    text, finish, usage, n = "", None, None, 0
    for c in chunks:
        n += 1
        if c.usage:
            usage = c.usage
        for ch in c.choices:
            text += (ch.delta.content or "") if chat else ch.text
            finish = ch.finish_reason or finish
    return text, finish, usage, n


def post_raw(server, path, body: bytes, headers=None):
    host, port = server.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


# --- basic endpoints ------------------------------------------------------------------

def test_health_models_and_start_line(server, client):
    assert "BOS added" in server.start_line, server.start_line
    # The library has a batch step: one compiled call runs each step's batch.
    assert "paged batch step" in server.start_line, server.start_line
    ids = [m.id for m in client.models.list().data]
    assert ids == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4")


def test_metrics_prometheus_text(server, client):
    client.completions.create(model=MODEL, prompt="The dog", max_tokens=4, temperature=0)
    m = server.metrics()
    for name in ("llmc_requests_waiting", "llmc_requests_running", "llmc_kv_blocks_used",
                 "llmc_kv_blocks_total", "llmc_time_to_first_token_seconds_count",
                 'llmc_time_per_output_token_seconds_bucket{le="+Inf"}'):
        assert name in m, name
    assert m["llmc_time_to_first_token_seconds_count"] >= 1
    assert m["llmc_kv_blocks_used"] == 0 and m["llmc_requests_running"] == 0


# --- completions against the references ----------------------------------------------

def test_completion_reproduces_reference_story(client, stories_reference_text):
    r = client.completions.create(model=MODEL, prompt=[1], max_tokens=200, temperature=0)
    text = r.choices[0].text
    # Raw token text: the story's first token is "▁Once", so the text starts with a space.
    assert text == " " + stories_reference_text
    assert r.usage.prompt_tokens == 1 and r.usage.completion_tokens == 200
    assert r.choices[0].finish_reason == "length"


def test_completion_matches_onnxruntime(client, ref):
    for prompt in PROMPTS[:4]:
        want, finish, n_prompt, n_gen = ref(prompt, 48)
        r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=48, temperature=0)
        assert r.choices[0].text == want, prompt
        assert r.choices[0].finish_reason == finish
        assert r.usage.prompt_tokens == n_prompt and r.usage.completion_tokens == n_gen


def test_completion_streaming(client, ref):
    want, finish, n_prompt, n_gen = ref(PROMPTS[1], 40)
    chunks = client.completions.create(model=MODEL, prompt=PROMPTS[1], max_tokens=40, temperature=0,
                                       stream=True, stream_options={"include_usage": True})
    text, fin, usage, n = stream_text(chunks, chat=False)
    assert text == want
    assert fin == finish
    assert n > 10, "tokens must arrive in several chunks"
    assert usage.completion_tokens == n_gen and usage.prompt_tokens == n_prompt


def test_max_tokens(client, ref):
    want, _, _, _ = ref(PROMPTS[2], 5)
    r = client.completions.create(model=MODEL, prompt=PROMPTS[2], max_tokens=5, temperature=0)
    assert r.usage.completion_tokens == 5
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].text == want


@pytest.mark.parametrize("stream", [False, True])
def test_stop_strings(client, ref, stream):
    full, _, _, _ = ref(PROMPTS[3], 60)
    stop = full[25:31]  # six characters from the middle, usually spanning tokens
    assert stop.strip(), full
    cut = full[: full.index(stop)]
    args = dict(model=MODEL, prompt=PROMPTS[3], max_tokens=60, temperature=0, stop=["@@@", stop])
    if stream:
        text, finish, _, _ = stream_text(client.completions.create(stream=True, **args), chat=False)
    else:
        r = client.completions.create(**args)
        text, finish = r.choices[0].text, r.choices[0].finish_reason
    assert text == cut, f"stop {stop!r}"
    assert finish == "stop"


def test_sampling_is_seeded(client):
    args = dict(model=MODEL, prompt=PROMPTS[0], max_tokens=30, temperature=0.9, top_p=0.95, seed=7)
    a = client.completions.create(**args).choices[0].text
    b = client.completions.create(**args).choices[0].text
    c = client.completions.create(**{**args, "seed": 8}).choices[0].text
    assert a == b
    assert a != c


# --- chat -----------------------------------------------------------------------------

MESSAGES = [{"role": "system", "content": "You tell short stories."},
            {"role": "user", "content": "Tell me about a cat."}]


def test_chat_completion(client, ref):
    want, finish, n_prompt, n_gen = ref(chatml(MESSAGES), 32)
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=32, temperature=0)
    msg = r.choices[0].message
    assert msg.role == "assistant"
    assert msg.content == want
    assert r.choices[0].finish_reason == finish
    assert r.usage.prompt_tokens == n_prompt and r.usage.completion_tokens == n_gen
    assert r.object == "chat.completion"


def test_chat_completion_streaming(client, ref):
    want, finish, n_prompt, n_gen = ref(chatml(MESSAGES), 32)
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=32,
                                                 temperature=0, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text, fin, usage, n = stream_text(chunks, chat=True)
    assert text == want
    assert fin == finish
    assert n > 10
    assert usage.prompt_tokens == n_prompt and usage.completion_tokens == n_gen


# --- concurrency ----------------------------------------------------------------------

def test_16_concurrent_requests_match_alone_and_reference(server, client, ref):
    lengths = [20 + 7 * i for i in range(16)]
    alone = [client.completions.create(model=MODEL, prompt=p, max_tokens=n, temperature=0).choices[0].text
             for p, n in zip(PROMPTS, lengths)]
    for p, n, a in zip(PROMPTS, lengths, alone):
        assert a == ref(p, n)[0], p
    before = server.metrics()
    barrier = threading.Barrier(16)

    def one(i):
        barrier.wait()
        return client.completions.create(model=MODEL, prompt=PROMPTS[i], max_tokens=lengths[i],
                                          temperature=0).choices[0].text

    with ThreadPoolExecutor(16) as pool:
        batched = list(pool.map(one, range(16)))
    after = server.metrics()
    assert batched == alone
    steps = after["llmc_steps_total"] - before["llmc_steps_total"]
    tokens = after["llmc_generation_tokens_total"] - before["llmc_generation_tokens_total"]
    assert tokens <= sum(lengths)
    print(f"\n16 concurrent: {tokens:.0f} tokens in {steps:.0f} steps")
    assert steps < tokens / 2, "the requests were not batched together"


def test_session_executor_matches_paged(make_server, client, ref):
    """`--executor sessions` (one contiguous-cache session per sequence) gives the same
    greedy text as the default paged batch step, alone and 8 at a time."""
    srv = make_server("--model-name", MODEL, "--executor", "sessions")
    assert "sessions, 1 executor thread" in srv.start_line, srv.start_line
    other = srv.client()
    lengths = [30 + 11 * i for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(lambda i: other.completions.create(
            model=MODEL, prompt=PROMPTS[i], max_tokens=lengths[i], temperature=0).choices[0].text,
            range(8)))
    for p, n, t in zip(PROMPTS, lengths, texts):
        assert t == ref(p, n)[0], p


# --- faults ---------------------------------------------------------------------------

def test_malformed_json_is_400(server):
    status, headers, body = post_raw(server, "/v1/completions", b'{"prompt": "x", ')
    assert status == 400
    err = json.loads(body)["error"]
    assert err["type"] == "invalid_request_error" and "malformed JSON" in err["message"]
    status, _, body = post_raw(server, "/v1/chat/completions", b'[1, 2]')
    assert status == 400 and "JSON object" in json.loads(body)["error"]["message"]
    status, _, body = post_raw(server, "/v1/chat/completions", json.dumps({"messages": "hi"}).encode())
    assert status == 400 and json.loads(body)["error"]["param"] == "messages"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="gpt-4", prompt="x", max_tokens=2)
    assert e.value.status_code == 404
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=MESSAGES)


def test_prompt_over_the_context_is_400(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL, prompt=[1] + [300] * 2047, max_tokens=2)
    assert e.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "cat " * 3000}])
    assert e.value.code == "context_length_exceeded"
    # Still serving afterwards.
    assert client.completions.create(model=MODEL, prompt="A", max_tokens=2).usage.completion_tokens == 2


def test_queue_full_is_429_with_retry_after(make_server):
    srv = make_server("--model-name", MODEL, "--max-running", "1", "--queue-limit", "1")
    client = srv.client()
    n = 12
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait()
        try:
            r = client.completions.create(model=MODEL, prompt=PROMPTS[i], max_tokens=1500,
                                          temperature=0, extra_body={"ignore_eos": True})
            return ("ok", r.usage.completion_tokens)
        except openai.RateLimitError as e:
            return ("429", e.response.headers.get("retry-after"), e.code)

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    rejected = [r for r in results if r[0] == "429"]
    done = [r for r in results if r[0] == "ok"]
    assert rejected, "one running + one waiting slot must turn some of 12 requests away"
    assert all(r[1] == "1" and r[2] == "rate_limit_exceeded" for r in rejected), rejected
    assert done and all(r[1] == 1500 for r in done), results
    m = srv.metrics()
    assert m["llmc_requests_rejected_total"] == len(rejected)
    assert m["llmc_requests_finished_total"] == len(done)


def test_client_disconnect_mid_stream_cancels(server, client):
    before = server.metrics()
    long_args = dict(model=MODEL, max_tokens=1800, temperature=0, extra_body={"ignore_eos": True})

    def full(i):  # keeps the server busy while the disconnect happens
        return client.completions.create(prompt=PROMPTS[i], **long_args).usage.completion_tokens

    with ThreadPoolExecutor(8) as pool:
        busy = [pool.submit(full, i) for i in range(8)]
        stream = client.completions.create(prompt=PROMPTS[9], stream=True, **long_args)
        got = 0
        for chunk in stream:
            got += 1
            if got == 3:
                break
        stream.close()  # drops the connection mid-stream
        assert all(f.result() == 1800 for f in busy)
    deadline = time.time() + 10
    while True:
        m = server.metrics()
        if m["llmc_requests_cancelled_total"] - before["llmc_requests_cancelled_total"] >= 1:
            break
        assert time.time() < deadline, "the disconnected request was not cancelled"
        time.sleep(0.05)
    assert m["llmc_requests_cancelled_total"] - before["llmc_requests_cancelled_total"] == 1
    generated = m["llmc_generation_tokens_total"] - before["llmc_generation_tokens_total"]
    assert generated < 9 * 1800, "the cancelled request ran to the end"
    assert m["llmc_requests_running"] == 0 and m["llmc_kv_blocks_used"] == 0


def test_kv_budget_exhausted_preempts_and_recovers(make_server, ref):
    # 1 MiB = 51 blocks of 16 tokens (1280 bytes of KV a token): far less than
    # 8 requests of ~310 tokens need at once.
    srv = make_server("--model-name", MODEL, "--kv-budget-mb", "1", "--block-size", "16")
    assert "51 blocks" in srv.start_line, srv.start_line
    client = srv.client()
    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(
            lambda p: client.completions.create(model=MODEL, prompt=p, max_tokens=300,
                                                temperature=0).choices[0].text, PROMPTS[:8]))
    for p, t in zip(PROMPTS[:8], texts):
        assert t == ref(p, 300)[0], p
    m = srv.metrics()
    assert m["llmc_preemptions_total"] > 0, "the budget was meant to run out"
    assert m["llmc_kv_blocks_used_peak"] <= 51
    assert m["llmc_requests_failed_total"] == 0
    # A prompt larger than the whole budget is refused, not queued forever.
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL, prompt=[1] + [300] * 900, max_tokens=2)
    assert e.value.code == "context_length_exceeded"


def test_sigterm_with_requests_in_flight_stops_cleanly(make_server):
    srv = make_server("--model-name", MODEL)
    client = srv.client()
    outcomes = []

    def one(i):
        try:
            if i % 2:
                r = client.completions.create(model=MODEL, prompt=PROMPTS[i], max_tokens=1800,
                                              temperature=0, extra_body={"ignore_eos": True})
                outcomes.append(("done", r.usage.completion_tokens))
            else:
                n = 0
                for _ in client.completions.create(model=MODEL, prompt=PROMPTS[i], max_tokens=1800,
                                                   temperature=0, stream=True,
                                                   extra_body={"ignore_eos": True}):
                    n += 1
                outcomes.append(("stream", n))
        except (openai.APIError, openai.APIConnectionError) as e:
            outcomes.append(("error", type(e).__name__))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    deadline = time.time() + 10
    while srv.metrics()["llmc_requests_running"] == 0:
        assert time.time() < deadline
        time.sleep(0.01)
    t0 = time.time()
    srv.close()  # SIGTERM; asserts exit code 0 and no crash output
    assert time.time() - t0 < 20
    for t in threads:
        t.join(30)
    # Every client got an answer: finished before the signal, or told that
    # the request was cancelled (503, or an error event in the stream).
    print(f"\nSIGTERM outcomes: {sorted(outcomes)}")
    assert len(outcomes) == 16, outcomes
    assert all(o in (("done", 1800),) or o[0] in ("stream", "error") for o in outcomes), outcomes
    assert any(o[0] == "error" for o in outcomes), "the signal came after all 16 requests finished"
