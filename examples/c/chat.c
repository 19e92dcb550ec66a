/* A streaming chat loop: each line read from stdin is a user turn; the reply streams to stdout as it is decoded.
 * The session keeps the conversation; when the context fills up it starts over. EOF ends the chat. */
#include <hearth.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t stream(hearth_token token, const char *piece, size_t len, void *user) {
  (void)token, (void)user;
  /* stop the turn at the next "User:" the model starts on its own */
  if (memchr(piece, '\n', len)) return 1;
  fwrite(piece, 1, len, stdout);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.gguf [N_TOKENS_PER_REPLY] < turns.txt\n", argv[0]);
    return 2;
  }
  hearth_model *model = NULL;
  hearth_session *session = NULL;
  hearth_session_params sp;
  hearth_session_params_init(&sp);
  sp.n_ctx = 1024;
  if (hearth_model_load(argv[1], NULL, &model) != HEARTH_OK || hearth_session_create(model, &sp, &session) != HEARTH_OK) {
    fprintf(stderr, "%s\n", hearth_last_error());
    hearth_model_free(model);
    return 1;
  }
  hearth_sampler_params smp;
  hearth_sampler_params_init(&smp);
  smp.temperature = 0.7f;
  smp.top_p = 0.9f;
  smp.seed = 42;
  hearth_session_set_sampler(session, &smp);
  hearth_generate_params gp;
  hearth_generate_params_init(&gp);
  gp.n_predict = argc > 2 ? (int32_t)strtol(argv[2], NULL, 10) : 48;
  gp.on_token = stream;
  char line[4096], turn[4200];
  int turns = 0, failed = 0;
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) continue;
    snprintf(turn, sizeof turn, "User: %s\nAssistant:", line);
    gp.add_bos = hearth_session_n_past(session) == 0;
    printf("> %s\n", line);
    hearth_status st = hearth_generate(session, turn, &gp);
    if (st == HEARTH_ERR_CONTEXT_FULL) { /* forget the conversation and answer this turn afresh */
      hearth_session_reset(session);
      gp.add_bos = 1;
      printf("[context full: starting over]\n");
      st = hearth_generate(session, turn, &gp);
    }
    printf("\n");
    if (st != HEARTH_OK) {
      fprintf(stderr, "turn failed: %s\n", hearth_last_error());
      failed = 1;
      break;
    }
    ++turns;
  }
  fprintf(stderr, "%d turns, %d tokens in context\n", turns, hearth_session_n_past(session));
  hearth_session_free(session);
  hearth_model_free(model);
  return failed;
}
