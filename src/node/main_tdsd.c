/*
 * main_tdsd.c — entry point of the `tdsd` daemon; everything else lives in the node module.
 */
#include "node/node.h"

int main(int argc, char **argv) { return tds_node_main(argc, argv); }
