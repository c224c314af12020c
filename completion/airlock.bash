# bash completion for airlock-export and airlock-import
# (installed as share/bash-completion/completions/airlock-export and -import)

_airlock_export()
{
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
    --samples-configmap|--imagestreams|--images-from|--authfile|--ca-file|--sign-key|-o|--output|--since|--since-key|--receipt-verify-key)
        COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --certs-dir|--cache)
        COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --split-size)
        COMPREPLY=($(compgen -W "fat32 dvd bd25 1G 4G" -- "$cur")); return ;;
    --arch)
        COMPREPLY=($(compgen -W "amd64 arm64 ppc64le s390x" -- "$cur")); return ;;
    --release|--release-component|--image|--pull-from|--zstd-level|--zstd-threads|--retries|--timeout|-j|--jobs|--cache-max)
        return ;;
    esac
    COMPREPLY=($(compgen -W "--samples-configmap --imagestreams --release --release-component
        --image --images-from --arch --pull-from --authfile --ca-file --certs-dir --insecure
        --retries --timeout --jobs --output --sign-key --zstd-level --zstd-threads
        --split-size --verify-written --cache --cache-max --since --since-key
        --receipt-verify-key --since-unsigned --samples-from-release --no-samples
        --dry-run --json --verbose --quiet
        --help --version" -- "$cur"))
}

_airlock_import()
{
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
    --verify-key|--authfile|--ca-file|--receipt|--receipt-key|--kubeconfig)
        COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --certs-dir|--manifests-dir)
        COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --registry|--context|--retries|--timeout|-j|--jobs)
        return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "--verify-key --insecure-skip-signature --verify-only --list
            --json --registry --authfile --ca-file --certs-dir --insecure --retries
            --timeout --jobs --receipt --receipt-key --allow-rollback --kubeconfig --context --dry-run
            --manifests-dir --skip-cluster --apply-mirror-sets --verbose --quiet --help --version" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -X '!*@(.tar.zst|.parts|.000)' -- "$cur") $(compgen -d -- "$cur"))
    fi
}

complete -F _airlock_export airlock-export
complete -F _airlock_import airlock-import
