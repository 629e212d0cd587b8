// Preloaded into cee-bench by .devbundle/run.sh. DPDK 22.11's EAL takes a CPU
// as present only when /sys/devices/system/cpu/cpuN/topology/core_id exists;
// gVisor's sysfs has no topology directory, so every lcore would be refused
// ("lcore N unavailable"). When that file is missing and N is below the number
// of configured CPUs, report it present. Transparent wherever the file exists.
// DEVSHIM_TEST=hide: pretend the files are missing and do not fix it up
// (reproduces the failure); DEVSHIM_TEST=gvisor: pretend missing, then fix up.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int access(const char *path, int mode)
{
	static int (*real)(const char *, int);
	if (real == NULL)
		real = (int (*)(const char *, int))dlsym(RTLD_NEXT, "access");
	int rc = real ? real(path, mode) : (errno = ENOSYS, -1);
	unsigned cpu;
	int n = 0;
	if (strncmp(path, "/sys/devices/system/cpu/cpu", 27) != 0 ||
	    sscanf(path, "/sys/devices/system/cpu/cpu%u/topology/core_id%n", &cpu, &n) != 1 ||
	    n == 0 || path[n] != '\0')
		return rc;
	const char *t = getenv("DEVSHIM_TEST");
	if (t != NULL && (strcmp(t, "hide") == 0 || strcmp(t, "gvisor") == 0)) {
		rc = -1;
		errno = ENOENT;
		if (strcmp(t, "hide") == 0)
			return rc;
	}
	if (rc == 0)
		return 0;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	long nonl = sysconf(_SC_NPROCESSORS_ONLN);
	if (nonl > ncpu)
		ncpu = nonl;
	if (ncpu > 0 && cpu < (unsigned long)ncpu) {
		errno = 0;
		return 0;
	}
	return rc;
}
