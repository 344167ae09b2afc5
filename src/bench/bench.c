/* tweedle bench: placeholder until the load generator lands. */
#include <stdio.h>
int tw_bench_main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "tweedle bench: not built yet\n");
  return 2;
}
