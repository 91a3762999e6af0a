/* openwfp/cli.h - the openwfp command line as a library call: openwfp_cli_main(argc, argv) is what
 * the `openwfp` executable runs (argv[0] is the program name). Returns the exit status. C and C++. */
#ifndef OPENWFP_CLI_H
#define OPENWFP_CLI_H

#ifdef __cplusplus
extern "C" {
#endif
int openwfp_cli_main(int argc, char** argv);
#ifdef __cplusplus
}
#endif

#endif /* OPENWFP_CLI_H */
