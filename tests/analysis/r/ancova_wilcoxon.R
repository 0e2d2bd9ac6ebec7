# Independent programming of SAP 4.1 (primary ANCOVA) and 4.1.2 / 4.7 (Wilcoxon rank-sum tests).
# Input: CSV with columns arm (1 CYT107, 0 placebo), site, log_aval, log_base, chg, osfd.
# Output: one JSON object on standard output.
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$site <- factor(d$site)
fit <- if (nlevels(d$site) > 1) lm(log_aval ~ arm + log_base + site, data = d) else lm(log_aval ~ arm + log_base, data = d)
est <- coef(summary(fit))["arm", ]
ci <- confint(fit, "arm", level = 0.95)
w_chg <- suppressWarnings(wilcox.test(d$chg[d$arm == 1], d$chg[d$arm == 0]))
w_osfd <- suppressWarnings(wilcox.test(d$osfd[d$arm == 1], d$osfd[d$arm == 0]))
cat(sprintf(paste0(
  '{"gmr": %.17g, "gmr_lower": %.17g, "gmr_upper": %.17g, "p_value": %.17g, "df": %d, ',
  '"wilcoxon_chg_p": %.17g, "wilcoxon_chg_W": %.17g, "wilcoxon_osfd_p": %.17g}\n'),
  exp(est[["Estimate"]]), exp(ci[1, 1]), exp(ci[1, 2]), est[["Pr(>|t|)"]], fit$df.residual,
  w_chg$p.value, w_chg$statistic[[1]], w_osfd$p.value))
