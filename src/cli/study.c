/*
** study.c: the commands that judge models through the Lua layer (one
** implementation: lua/moonbench/core.lua): `moonbench evaluate` (the
** report of mb.evaluate), `moonbench compare` (mb.compare's leaderboard)
** and `moonbench tune` (mb.grid_search / mb.random_search).
*/
#include "cli.h"
int mb_cmd_evaluate(int argc, char **argv) { (void)argc; (void)argv; return 2; }
int mb_cmd_compare(int argc, char **argv) { (void)argc; (void)argv; return 2; }
int mb_cmd_tune(int argc, char **argv) { (void)argc; (void)argv; return 2; }
