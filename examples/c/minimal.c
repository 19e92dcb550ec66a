/* The smallest embedding of hearth: load a model, stream a continuation of a prompt, free everything.
 *   cc minimal.c $(pkg-config --cflags --libs hearth) -o minimal && ./minimal model.gguf "Once upon a time" */
#include <hearth.h>
#include <stdio.h>
#include <stdlib.h>

static int32_t print_piece(hearth_token token, const char *piece, size_t len, void *user) {
  (void)token, (void)user;
  fwrite(piece, 1, len, stdout);
  fflush(stdout);
  return 0; /* nonzero would stop the generation */
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.gguf PROMPT [N_TOKENS]\n", argv[0]);
    return 2;
  }
  hearth_model *model = NULL;
  hearth_session *session = NULL;
  if (hearth_model_load(argv[1], NULL, &model) != HEARTH_OK) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], hearth_last_error());
    return 1;
  }
  if (hearth_session_create(model, NULL, &session) != HEARTH_OK) {
    fprintf(stderr, "cannot create a session: %s\n", hearth_last_error());
    hearth_model_free(model);
    return 1;
  }
  hearth_generate_params gp;
  hearth_generate_params_init(&gp);
  gp.n_predict = argc > 3 ? atoi(argv[3]) : 32;
  gp.on_token = print_piece;
  printf("%s", argv[2]);
  const hearth_status st = hearth_generate(session, argv[2], &gp);
  printf("\n");
  if (st != HEARTH_OK) fprintf(stderr, "generation stopped: %s\n", hearth_last_error());
  hearth_session_free(session);
  hearth_model_free(model);
  return st == HEARTH_OK ? 0 : 1;
}
