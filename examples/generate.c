/* generate.c - load a library made by `llmc compile` and generate text.
 *
 *   llmc-example-generate model.so "Once upon a time" 64
 *
 * Greedy decoding through the C API (include/llmc/llmc.h), loaded with
 * dlopen through include/llmc/llmc_loader.h. */
#include "llmc/llmc_loader.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s model.so PROMPT [N]\n", argv[0]);
    return 2;
  }
  int n = argc > 3 ? atoi(argv[3]) : 32;
  llmc_api api;
  char err[512];
  if (llmc_load(argv[1], &api, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  llmc_model *model;
  llmc_session *session;
  if (api.model_open(&model) != LLMC_OK ||
      api.session_create(model, 1024, &session) != LLMC_OK) {
    fprintf(stderr, "error: %s\n", api.last_error());
    return 1;
  }
  size_t count = 0;
  api.tokenize(model, argv[2], 1, NULL, 0, &count);
  int32_t *ids = malloc(sizeof(int32_t) * (count ? count : 1));
  if (api.tokenize(model, argv[2], 1, ids, count, &count) != LLMC_OK ||
      api.session_prefill(session, ids, count) != LLMC_OK) {
    fprintf(stderr, "error: %s\n", api.last_error());
    return 1;
  }
  llmc_sampling_params greedy = {0.0f, 0, 1.0f, 0};
  llmc_sampler *sampler = api.sampler_create(&greedy);
  printf("%s", argv[2]);
  for (int i = 0; i < n; ++i) {
    int32_t next = api.sampler_sample(sampler, api.session_logits(session),
                                      api.model_vocab_size(model));
    if (api.token_is_end(model, next))
      break;
    const char *text;
    size_t len;
    api.token_text(model, next, &text, &len);
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (api.session_decode(session, next) != LLMC_OK) {
      fprintf(stderr, "\nerror: %s\n", api.last_error());
      return 1;
    }
  }
  printf("\n");
  api.sampler_destroy(sampler);
  api.session_destroy(session);
  api.model_close(model);
  free(ids);
  return 0;
}
