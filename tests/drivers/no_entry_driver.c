/* no_entry_driver.c - a shared object without DriverEntry: DriverHost must refuse it clearly. */
int openwfp_not_a_driver(void);
int openwfp_not_a_driver(void) { return 0; }
