/* Fatal signals in fossim's own thread: a crash inside a plugin is reported
 * with the plugin's name, and any other with where it happened, then the
 * process exits non-zero. (Sanitizer builds keep the sanitizers' reports.) */
#ifndef FOS_SIM_CRASH_H
#define FOS_SIM_CRASH_H

void sim_crash_report_install(void);

#endif
