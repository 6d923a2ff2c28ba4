/* Authenticode for Windows Installer packages (.msi, .msp): compound
 * files (cfb.h) whose signature is the root stream \005DigitalSignature. */
#ifndef SIGNET_AC_MSI_H
#define SIGNET_AC_MSI_H

#include "authenticode.h"

extern const struct ac_format ac_msi_format;

#endif
