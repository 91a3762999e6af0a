/* The openwfp executable: the command line lives in libopenwfp (tools/openwfp/main.cpp). */
#include "openwfp/cli.h"

int main(int argc, char** argv) { return openwfp_cli_main(argc, argv); }
