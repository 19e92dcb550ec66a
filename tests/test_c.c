/* Proves the public header is C99 and links from C. */
#include <stdio.h>
#include <string.h>

#include "hearth.h"

int main(void) {
  hearth_model_params mp;
  hearth_session_params sp;
  hearth_sampler_params smp;
  hearth_generate_params gp;
  hearth_model *model = NULL;
  hearth_status st;
  hearth_model_params_init(&mp);
  hearth_session_params_init(&sp);
  hearth_sampler_params_init(&smp);
  hearth_generate_params_init(&gp);
  if (hearth_version() != HEARTH_VERSION_NUMBER || hearth_abi_version() != HEARTH_ABI_VERSION) return 1;
  st = hearth_model_load("/nonexistent.gguf", &mp, &model);
  if (st != HEARTH_ERR_IO || model != NULL || strlen(hearth_last_error()) == 0) return 2;
  if (mp.struct_size != sizeof mp || sp.n_batch != 256 || gp.n_predict != 128) return 3;
  {
    size_t n = 0;
    if (hearth_session_state_size(NULL, &n) != HEARTH_ERR_INVALID_ARGUMENT) return 4;
    if (hearth_session_state_load(NULL, &n, sizeof n) != HEARTH_ERR_INVALID_ARGUMENT) return 5;
    if (hearth_session_truncate(NULL, 0) != HEARTH_ERR_INVALID_ARGUMENT) return 6;
  }
  if (mp.no_repack != 0 || hearth_model_repacked_bytes(NULL) != 0) return 7;
  printf("hearth %s from C: ok (%s)\n", hearth_version_string(), hearth_status_string(st));
  return 0;
}
