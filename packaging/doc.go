// Package packaging holds no Go code: it is the release packaging of moat and its tests.
//
//   - build-deb.sh builds the .deb from a linux binary (make release, make deb: ../release.mk);
//   - deb/ holds what the package installs: the systemd unit, the default /etc/moat/moat.yaml
//     (a conffile) and the maintainer scripts that create the moat user and the admin token;
//   - docker/moat.yaml is the container image's default config (../Dockerfile).
//
// packaging_test.go builds the package and installs it with dpkg into a throwaway root, builds
// the release binary twice from two copies of the tree to prove the build reproducible, and
// checks the Dockerfile's shape against what make release produces. See docs/operations.md.
package packaging
