/* A game loop that decodes text a little at a time: each frame spends at most its budget on
 * hearth_session_step() (one bounded piece of work per call), then renders; a second thread cancels the
 * generation after a deadline, as a game would when the player skips a dialogue. */
#include <hearth.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct skipper {
  hearth_session *session;
  double after_ms;
};

static void *skip_dialogue(void *arg) {
  const struct skipper *s = arg;
  struct timespec ts = {(time_t)(s->after_ms / 1000), (long)((long long)s->after_ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  hearth_session_cancel(s->session); /* the one call that is safe from another thread */
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.gguf [FRAME_BUDGET_MS] [SKIP_AFTER_MS]\n", argv[0]);
    return 2;
  }
  const double budget = argc > 2 ? atof(argv[2]) : 4.0, skip_after = argc > 3 ? atof(argv[3]) : 300.0;
  hearth_model *model = NULL;
  hearth_session *session = NULL;
  if (hearth_model_load(argv[1], NULL, &model) != HEARTH_OK || hearth_session_create(model, NULL, &session) != HEARTH_OK) {
    fprintf(stderr, "%s\n", hearth_last_error());
    hearth_model_free(model);
    return 1;
  }
  const char *line = "The innkeeper leans over the counter and says:";
  if (hearth_session_feed(session, line, strlen(line), HEARTH_TOKENIZE_ADD_BOS) != HEARTH_OK) {
    fprintf(stderr, "feed: %s\n", hearth_last_error());
    return 1;
  }
  struct skipper sk = {session, skip_after};
  pthread_t thread;
  pthread_create(&thread, NULL, skip_dialogue, &sk);
  int frames = 0, tokens = 0, over_budget = 0, done = 0;
  hearth_status st = HEARTH_OK;
  const double start = now_ms();
  while (!done) {
    const double frame_start = now_ms();
    /* decode while this frame's budget lasts; one step is one token (or one prompt chunk) */
    while (!done && now_ms() - frame_start < budget) {
      hearth_token t;
      st = hearth_session_step(session, &t);
      if (st != HEARTH_OK) {
        done = 1;
        break;
      }
      if (t < 0) continue; /* a prompt chunk was evaluated */
      char piece[64];
      size_t n = 0;
      if (hearth_token_to_piece(model, t, 0, piece, sizeof piece, &n) == HEARTH_OK) fwrite(piece, 1, n, stdout);
      ++tokens;
      if (hearth_token_is_eog(model, t) || tokens >= 2000) done = 1;
    }
    if (now_ms() - frame_start > budget * 4) ++over_budget;
    ++frames; /* ... render the frame here ... */
    fflush(stdout);
    if (now_ms() - start > 10000) break; /* a safety net for the example */
  }
  pthread_join(thread, NULL);
  printf("\n");
  fprintf(stderr, "%d frames, %d tokens, %d frames far over budget, stopped by: %s\n", frames, tokens, over_budget,
          st == HEARTH_ERR_CANCELLED ? "the skip (cancelled)" : st == HEARTH_OK ? "end of text" : hearth_status_string(st));
  hearth_session_free(session);
  hearth_model_free(model);
  return st == HEARTH_OK || st == HEARTH_ERR_CANCELLED ? 0 : 1;
}
