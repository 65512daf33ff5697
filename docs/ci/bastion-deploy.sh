#!/bin/sh
# bastion-deploy.sh ARTIFACT ENV — verify and deploy a streamt artifact on a machine with
# no internet, no git and no sources. Needs: python3 (3.6+), streamt.pyz, allowed_signers.
#
# The variables the artifact needs (see `streamt artifact inspect`, "required env") come
# from the environment or from an env file: STREAMT_ENV_FILE (default /etc/streamt/ENV.env).
set -eu

artifact=${1:?usage: bastion-deploy.sh ARTIFACT ENV}
env=${2:?usage: bastion-deploy.sh ARTIFACT ENV}
streamt=${STREAMT:-python3 /opt/streamt/streamt.pyz}
signers=${STREAMT_ALLOWED_SIGNERS:-/etc/streamt/allowed_signers}
env_file=${STREAMT_ENV_FILE:-/etc/streamt/$env.env}

# 1. The bytes are the ones CI built (checksums) and CI signed them (signature).
$streamt artifact verify "$artifact" --allowed-signers "$signers" --require-signature
$streamt artifact inspect "$artifact"

# 2. What would change? Exit 8 means changes are pending, 0 nothing to do.
set +e
$streamt deploy "$artifact" -e "$env" --dry-run --detailed-exitcode \
    --env-file "$env_file" --allowed-signers "$signers" --require-signature
code=$?
set -e
case $code in
  0) echo "nothing to deploy"; exit 0 ;;
  8) ;;
  *) exit $code ;;
esac

# 3. Deploy. A protected environment asks for the environment's name on a terminal.
$streamt deploy "$artifact" -e "$env" --confirm \
    --env-file "$env_file" --allowed-signers "$signers" --require-signature
