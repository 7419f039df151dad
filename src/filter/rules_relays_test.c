/* SpamAssassin's relay analysis (rules_relays.c, rules_relays_eval.c):
 * every Received format family Received.pm knows -> the relay string it
 * prints (expected strings are SpamAssassin 4.0.1's own output for these
 * lines), the inferred trust boundary, the X-Spam-Relays-* pseudo-headers
 * and RelayEval tests seen by rules, stock rules firing as in SpamAssassin,
 * and hostile input (10,000 headers, 64 kB header, unbalanced brackets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filter/rules_int.h"
#include "mail/msgview.h"
#include "util/fsutil.h"

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/rules_relays_test.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- one header ---- */

/* Header text -> SpamAssassin's parse: its relay string, plus " NORDNS"
 * (the MTA looked rDNS up and found none) and " PRIV" (private IP), or
 * SKIP (a header it ignores) or UNPARSEABLE. */
static const struct {
	const char *hdr, *want;
} formats[] = {
	{"from av0001.technodiva.com (localhost [127.0.0.1])by  localhost.technodiva.com (Post"
	 "fix) with ESMTP id 846CF2117for  <proftp-user@lists.sourceforge.net>; Mon,  7 Aug 20"
	 "06 17:48:07 +0200 (MEST)",
	 "[ ip=127.0.0.1 rdns=localhost helo=av0001.technodiva.com by=localhost.technodiva.com"
	 " ident= envfrom= intl=0 id=846CF2117for auth= msa=0 ] PRIV"},
	{"from inet-vrs-05.redmond.corp.microsoft.com ([157.54.6.157]) by INET-IMC-05.redmond."
	 "corp.microsoft.com with Microsoft SMTPSVC(5.0.2195.6624); Thu, 6 Mar 2003 12:02:35 -"
	 "0800",
	 "[ ip=157.54.6.157 rdns= helo=inet-vrs-05.redmond.corp.microsoft.com by=INET-IMC-05.r"
	 "edmond.corp.microsoft.com ident= envfrom= intl=0 id= auth= msa=0 ]"},
	{"from  ([172.16.1.78]) by email2.codeworksonline.com with Microsoft SMTPSVC(5.0.2195."
	 "6713); Wed, 6 Sep 2006 21:14:29 -0400",
	 "[ ip=172.16.1.78 rdns= helo= by=email2.codeworksonline.com ident= envfrom= intl=0 id"
	 "= auth= msa=0 ] PRIV"},
	{"from EXC-DAG-02.global.net (10.45.252.152) by EXC-DAG-02.global.net (10.45.252.152) "
	 "with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SH"
	 "A256) id 15.1.1261.35; Mon, 29 Oct 2018 11:17:19 +0100",
	 "[ ip=10.45.252.152 rdns=EXC-DAG-02.global.net helo=EXC-DAG-02.global.net by=EXC-DAG-"
	 "02.global.net ident= envfrom= intl=0 id=15.1.1261.35 auth= msa=0 ] PRIV"},
	{"from AM5PR0402MB2836.eurprd04.prod.outlook.com ([fe80::19bd:c588:dd17:5226]) by AM5P"
	 "R0402MB2836.eurprd04.prod.outlook.com",
	 "[ ip=fe80::19bd:c588:dd17:5226 rdns= helo=AM5PR0402MB2836.eurprd04.prod.outlook.com "
	 "by=AM5PR0402MB2836.eurprd04.prod.outlook.com ident= envfrom= intl=0 id= auth= msa=0 "
	 "] PRIV"},
	{"from list.brainbuzz.com (63.146.189.86:23198) by mx1.yourtech.net with [XMail 1.20 E"
	 "SMTP Server] id <S72E> for <jason@ellingson.org.spamassassin.org> from <bounce-cscom"
	 "munity-11965901@list.cramsession.com.spamassassin.org>; Sat, 18 Sep 2004 23:17:54 -0"
	 "500",
	 "[ ip=63.146.189.86 rdns= helo=list.brainbuzz.com by=mx1.yourtech.net ident= envfrom="
	 "bounce-cscommunity-11965901@list.cramsession.com.spamassassin.org intl=0 id=S72E aut"
	 "h= msa=0 ]"},
	{"from ([192.168.1.151:49601] helo=dev1.democracyinaction.org) by m12.prod.democracyin"
	 "action.com (ecelerity 2.1.1.3 r(11743)) with ESMTP id 52/92-02454-89FBA054 for <exam"
	 "ple@vandinter.org>; Fri, 15 Sep 2006 10:58:32 -0400",
	 "[ ip=192.168.1.151 rdns= helo=dev1.democracyinaction.org by=m12.prod.democracyinacti"
	 "on.com ident= envfrom= intl=0 id=52/92-02454-89FBA054 auth= msa=0 ] PRIV"},
	{"from andrew by trinity.supernews.net with local (Exim 4.12) id 18xeL6-000Dn1-00; Tue"
	 ", 25 Mar 2003 02:39:00 +0000",
	 "SKIP"},
	{"from [218.19.142.229] (helo=hotmail.com ident=yiuhyotp) by yzordderrex with smtp (Ex"
	 "im 3.35 #1 (Debian)) id 194BE5-0005Zh-00; Sat, 12 Apr 2003 03:58:53 +0100",
	 "[ ip=218.19.142.229 rdns= helo=hotmail.com by=yzordderrex ident=yiuhyotp envfrom= in"
	 "tl=0 id=194BE5-0005Zh-00 auth= msa=0 ]"},
	{"from dsl092-072-213.bos1.dsl.speakeasy.net ([66.92.72.213] helo=blazing.arsecandle.o"
	 "rg) by sc8-sf-list1.sourceforge.net with esmtp (Cipher TLSv1:DES-CBC3-SHA:168) (Exim"
	 " 3.31-VA-mm2 #1 (Debian)) id 18lyuU-0007TI-00 for <SpamAssassin-talk@lists.sourcefor"
	 "ge.net>; Thu, 20 Feb 2003 14:11:18 -0800",
	 "[ ip=66.92.72.213 rdns=dsl092-072-213.bos1.dsl.speakeasy.net helo=blazing.arsecandle"
	 ".org by=sc8-sf-list1.sourceforge.net ident= envfrom= intl=0 id=18lyuU-0007TI-00 auth"
	 "= msa=0 ]"},
	{"from server040.webpack.hosteurope.de ([80.237.130.48]:52313) by vps832469583.serverp"
	 "ool.info with esmtps (TLS-1.0:DHE_RSA_3DES_EDE_CBC_SHA:24) (Exim 4.50) id 1GzVLs-000"
	 "2Oz-7b...",
	 "[ ip=80.237.130.48 rdns=server040.webpack.hosteurope.de helo=server040.webpack.hoste"
	 "urope.de by=vps832469583.serverpool.info ident= envfrom= intl=0 id=1GzVLs-0002Oz-7b."
	 ".. auth= msa=0 ]"},
	{"from boggle.ihug.co.nz [203.109.252.209] by grunt6.ihug.co.nz with esmtp (Exim 3.35 "
	 "#1 (Debian)) id 18SWRe-0006X6-00; Sun, 29 Dec 2002 18:57:06 +1300",
	 "[ ip=203.109.252.209 rdns=boggle.ihug.co.nz helo=boggle.ihug.co.nz by=grunt6.ihug.co"
	 ".nz ident= envfrom= intl=0 id=18SWRe-0006X6-00 auth= msa=0 ]"},
	{"from helene8.i.pinwand.net (helene.cats.ms) [10.0.8.6.13219] (mail) by lisbeth.i.pin"
	 "wand.net with esmtp (Exim 3.35 #1 (Debian)) id 1CO5y7-0001vC-00; Sun, 31 Oct 2004 04"
	 ":01:23 +0100",
	 "[ ip=10.0.8.6 rdns=helene8.i.pinwand.net helo=helene.cats.ms by=lisbeth.i.pinwand.ne"
	 "t ident= envfrom= intl=0 id=1CO5y7-0001vC-00 auth= msa=0 ] PRIV"},
	{"from localhost (unknown [127.0.0.1]) by cabbage.jmason.org (Postfix) with ESMTP id A"
	 "96E18BD97 for <jm@localhost>; Thu, 13 Mar 2003 15:23:15 -0500 (EST)",
	 "[ ip=127.0.0.1 rdns= helo=localhost by=cabbage.jmason.org ident= envfrom= intl=0 id="
	 "A96E18BD97 auth= msa=0 ] NORDNS PRIV"},
	{"from 207.8.214.3 (unknown[211.94.164.65]) by puzzle.pobox.com (Postfix) with SMTP id"
	 " 9029AFB732; Sat,  8 Nov 2003 17:57:46 -0500 (EST)",
	 "[ ip=211.94.164.65 rdns= helo=207.8.214.3 by=puzzle.pobox.com ident= envfrom= intl=0"
	 " id=9029AFB732 auth= msa=0 ] NORDNS"},
	{"from mail1.insuranceiq.com (host66.insuranceiq.com [65.217.159.66] (may be forged)) "
	 "by dogma.slashnull.org (8.11.6/8.11.6) with ESMTP id h2F0c2x31856 for <jm@jmason.org"
	 ">; Sat, 15 Mar 2003 00:38:03 GMT",
	 "[ ip=65.217.159.66 rdns=host66.insuranceiq.com helo=mail1.insuranceiq.com by=dogma.s"
	 "lashnull.org ident= envfrom= intl=0 id=h2F0c2x31856 auth= msa=0 ]"},
	{"from ran-out.mx.develooper.com (IDENT:qmailr@one.develooper.com [64.81.84.115]) by d"
	 "ogma.slashnull.org (8.11.6/8.11.6) with SMTP id h381Vvf19860 for <jm-cpan@jmason.org"
	 ">; Tue, 8 Apr 2003 02:31:57 +0100",
	 "[ ip=64.81.84.115 rdns=one.develooper.com helo=ran-out.mx.develooper.com by=dogma.sl"
	 "ashnull.org ident=qmailr envfrom= intl=0 id=h381Vvf19860 auth= msa=0 ]"},
	{"from rev.net (natpool62.rev.net [63.148.93.62] (may be forged)) (authenticated) by m"
	 "ail.rev.net (8.11.4/8.11.4) with ESMTP id h0KKa7d32306 for <spamassassin-talk@lists."
	 "sourceforge.net>",
	 "[ ip=63.148.93.62 rdns=natpool62.rev.net helo=rev.net by=mail.rev.net ident= envfrom"
	 "= intl=0 id=h0KKa7d32306 auth=Sendmail msa=0 ]"},
	{"from 213.123.174.21 by lw11fd.law11.hotmail.msn.com with HTTP; Wed, 24 Jul 2002 16:3"
	 "6:44 GMT",
	 "[ ip=213.123.174.21 rdns= helo= by=lw11fd.law11.hotmail.msn.com ident= envfrom= intl"
	 "=0 id= auth=HTTP msa=0 ]"},
	{"from x71-x56-x24-5.webspeed.dk (HELO niels) (69.96.3.15) by la.mx.develooper.com (qp"
	 "smtpd/0.27-dev) with SMTP; Fri, 02 Jan 2004 19:26:52 -0800",
	 "[ ip=69.96.3.15 rdns=x71-x56-x24-5.webspeed.dk helo=niels by=la.mx.develooper.com id"
	 "ent= envfrom= intl=0 id= auth= msa=0 ]"},
	{"from dslb-082-083-045-064.pools.arcor-ip.net (EHLO homepc) [82.83.45.64] by mail.gmx"
	 ".net (mp010) with SMTP; 03 Feb 2007 13:13:47 +0100",
	 "[ ip=82.83.45.64 rdns=dslb-082-083-045-064.pools.arcor-ip.net helo=homepc by=mail.gm"
	 "x.net ident= envfrom= intl=0 id= auth=GMX (SMTP / mail.gmx.net) msa=0 ]"},
	{"from postfix3-2.free.fr (HELO machine.domain.com) (foobar@213.228.0.169) by totor.bo"
	 "uissou.net with SMTP; 14 Nov 2003 08:05:50 -0000",
	 "[ ip=213.228.0.169 rdns=postfix3-2.free.fr helo=machine.domain.com by=totor.bouissou"
	 ".net ident=foobar envfrom= intl=0 id= auth= msa=0 ]"},
	{"from unknown (HELO terpsichore.farfalle.com) (jdavid@[216.254.40.70]) (envelope-send"
	 "er <jdavid@farfalle.com>) by mail13.speakeasy.net (qmail-ldap-1.03) with SMTP for <j"
	 "m@jmason.org>; 12 Feb 2003 18:23:19 -0000",
	 "[ ip=216.254.40.70 rdns= helo=terpsichore.farfalle.com by=mail13.speakeasy.net ident"
	 "=jdavid envfrom=jdavid@farfalle.com intl=0 id= auth= msa=0 ]"},
	{"from 211.245.85.228  (EHLO ) (211.245.85.228) by mta232.mail.scd.yahoo.com with SMTP"
	 "; Sun, 25 Jan 2004 00:24:37 -0800",
	 "[ ip=211.245.85.228 rdns=211.245.85.228 helo= by=mta232.mail.scd.yahoo.com ident= en"
	 "vfrom= intl=0 id= auth= msa=0 ]"},
	{"from acecomms [202.83.84.95] by mailscan.acenet.net.au [202.83.84.27] with SMTP (MDa"
	 "emon.PRO.v5.0.6.R) for <spamassassin-talk@lists.sourceforge.net>; Fri, 21 Feb 2003 0"
	 "9:32:27 +1000",
	 "[ ip=202.83.84.95 rdns= helo=acecomms by=mailscan.acenet.net.au ident= envfrom= intl"
	 "=0 id= auth= msa=0 ] NORDNS"},
	{"from Agni (localhost [::ffff:127.0.0.1]) (TLS: TLSv1/SSLv3, 168bits,DES-CBC3-SHA) by"
	 " agni.forevermore.net with esmtp; Mon, 28 Oct 2002 14:48:52 -0800",
	 "[ ip=127.0.0.1 rdns=localhost helo=Agni by=agni.forevermore.net ident= envfrom= intl"
	 "=0 id= auth= msa=0 ] PRIV"},
	{"from gandalf ([4.37.75.131]) (authenticated bits=0) by herald.cc.purdue.edu (8.12.5/"
	 "8.12.5/herald) with ESMTP id g9JLefrm028228 for <spamassassin-talk@lists.sourceforge"
	 ".net>; Sat, 19 Oct 2002 16:40:41 -0500 (EST)",
	 "[ ip=4.37.75.131 rdns= helo=gandalf by=herald.cc.purdue.edu ident= envfrom= intl=0 i"
	 "d=g9JLefrm028228 auth=Sendmail msa=0 ] NORDNS"},
	{"from bushinternet.com (softdnserr [::ffff:61.99.99.67]) by mail.cs.helsinki.fi with "
	 "esmtp; Fri, 22 Aug 2003 12:25:41 +0300",
	 "[ ip=61.99.99.67 rdns= helo=bushinternet.com by=mail.cs.helsinki.fi ident= envfrom= "
	 "intl=0 id= auth= msa=0 ]"},
	{"from cabbage.jmason.org [127.0.0.1] by localhost with IMAP (fetchmail-5.9.0) for jm@"
	 "localhost (single-drop); Thu, 13 Mar 2003 20:39:56 -0800 (PST)",
	 "SKIP"},
	{"from unknown (HELO feux01a-isp) (213.199.4.210) by totor.bouissou.net with SMTP; 1 N"
	 "ov 2003 07:05:19 -0000",
	 "[ ip=213.199.4.210 rdns= helo=feux01a-isp by=totor.bouissou.net ident= envfrom= intl"
	 "=0 id= auth= msa=0 ]"},
	{"from adsl-207-213-27-129.dsl.lsan03.pacbell.net (HELO merlin.net.au) (Owner50@207.21"
	 "3.27.129) by totor.bouissou.net with SMTP; 10 Nov 2003 06:30:34 -0000",
	 "[ ip=207.213.27.129 rdns=adsl-207-213-27-129.dsl.lsan03.pacbell.net helo=merlin.net."
	 "au by=totor.bouissou.net ident=Owner50 envfrom= intl=0 id= auth= msa=0 ]"},
	{"from spike (spike.ig.co.uk [193.32.60.32]) by mail.ig.co.uk with SMTP id h27CrCD0336"
	 "2 for <asrg@ietf.org>; Fri, 7 Mar 2003 12:53:12 GMT",
	 "[ ip=193.32.60.32 rdns=spike.ig.co.uk helo=spike by=mail.ig.co.uk ident= envfrom= in"
	 "tl=0 id=h27CrCD03362 auth= msa=0 ]"},
	{"from [192.168.1.104] (account nazgul HELO [192.168.1.104]) by somewhere.com (Communi"
	 "Gate Pro SMTP 3.5.7) with ESMTP-TLS id 2088434; Fri, 07 Mar 2003 13:05:06 -0500",
	 "[ ip=192.168.1.104 rdns= helo=!192.168.1.104! by=somewhere.com ident= envfrom= intl="
	 "0 id=2088434 auth=Communigate msa=0 ] PRIV"},
	{"from [10.128.128.81]:50999 (HELO dfintra.f-secure.com) by fsav4im2 ([10.128.128.74]:"
	 "25) (F-Secure Anti-Virus for Internet Mail 6.0.34 Release) with SMTP; Tue, 5 Mar 200"
	 "2 14:11:53 -0000",
	 "[ ip=10.128.128.81 rdns= helo=dfintra.f-secure.com by=fsav4im2 ident= envfrom= intl="
	 "0 id= auth= msa=0 ] PRIV"},
	{"from [212.87.144.30] (account seiz [212.87.144.30] verified) by x.imd.net (CommuniGa"
	 "te Pro SMTP 4.0.3) with ESMTP-TLS id 5026665 for spamassassin-talk@lists.sourceforge"
	 ".net; Wed, 15 Jan 2003 16:27:05 +0100",
	 "[ ip=212.87.144.30 rdns= helo= by=x.imd.net ident= envfrom= intl=0 id=5026665 auth=C"
	 "ommunigate msa=0 ]"},
	{"from [206.51.230.145] (helo=t-online.de) by mxeu2.kundenserver.de with ESMTP (Nemesi"
	 "s), id 0MKpdM-1CkRpr14PF-000608; Fri, 31 Dec 2004 19:49:15 +0100",
	 "[ ip=206.51.230.145 rdns= helo=t-online.de by=mxeu2.kundenserver.de ident= envfrom= "
	 "intl=0 id=0MKpdM-1CkRpr14PF-000608 auth= msa=0 ]"},
	{"from TCE-E-7-182-54.bta.net.cn(202.106.182.54) via SMTP by st.tahina.priv.at, id smt"
	 "pdEDUB8h; Sun Nov 13 14:50:12 2005",
	 "[ ip=202.106.182.54 rdns=TCE-E-7-182-54.bta.net.cn helo= by=st.tahina.priv.at ident="
	 " envfrom= intl=0 id=smtpdEDUB8h auth= msa=0 ]"},
	{"from pl027.nas934.d-osaka.nttpc.ne.jp(61.197.82.27), claiming to be \"foo.woas.net\""
	 " via SMTP by st.tahina.priv.at, id smtpd1PBsZT; Sun Nov 13 15:38:52 2005",
	 "[ ip=61.197.82.27 rdns=pl027.nas934.d-osaka.nttpc.ne.jp helo=foo.woas.net by=st.tahi"
	 "na.priv.at ident= envfrom= intl=0 id=smtpd1PBsZT auth= msa=0 ]"},
	{"from itrqtnlnq (lucilleskinner@93.124.107.183 with login) by smtp111.mail.ne1.yahoo."
	 "com with SMTP; 17 Jan 2011 08:23:27 -0800 PST",
	 "[ ip=93.124.107.183 rdns= helo=itrqtnlnq by=smtp111.mail.ne1.yahoo.com ident= envfro"
	 "m= intl=0 id= auth= msa=0 ]"},
	{"from raptor.research.att.com (bala@localhost) by raptor.research.att.com (SGI-8.9.3/"
	 "8.8.7) with ESMTP id KAA14788 for <asrg@example.com>; Fri, 7 Mar 2003 10:37:56 -0500"
	 " (EST)",
	 "SKIP"},
	{"from localhost (mailnull@localhost) by x.org (8.12.6/8.9.3) with SMTP id h2R2iivG093"
	 "740; Wed, 26 Mar 2003 20:44:44 -0600",
	 "SKIP"},
	{"from testintranator.net.vm ([unix socket])_ by testintranator.net.vm (Cyrus v2.3.14)"
	 " with LMTPA;_ Tue, 21 Jul 2009 14:34:14 +0200",
	 "UNPARSEABLE"},
	{"FROM hackers.mr.itd.umich.edu (smtp.mail.umich.edu [141.211.14.81]) BY madman.mr.itd"
	 ".umich.edu ID 434B508E.174A6.13932 ; 11 Oct 2005 01:41:34 -0400",
	 "[ ip=141.211.14.81 rdns=smtp.mail.umich.edu helo=hackers.mr.itd.umich.edu by=madman."
	 "mr.itd.umich.edu ident= envfrom= intl=0 id=434B508E.174A6.13932 auth= msa=0 ]"},
	{"FROM helo (1.2.3.4 [1.2.3.4]) BY xxx.com (Rockliffe SMTPRA 10.3.0) WITH SMTP ID <B00"
	 "65361981@xxx.com> FOR <foo@bar.net>; Tue, 6 Nov 2018 07:41:26 +0200",
	 "[ ip=1.2.3.4 rdns=1.2.3.4 helo=helo by=xxx.com ident= envfrom= intl=0 id=B0065361981"
	 "@xxx.com auth= msa=0 ]"},
	{"(from localhost [24.180.47.240]) by host.name (NAVGW 2.5.2.12) with SMTP id M2006060"
	 "503484615455 for <user@domain.co.uk>; Mon, 05 Jun 2006 03:48:47 +0100",
	 "[ ip=24.180.47.240 rdns= helo=localhost by=host.name ident= envfrom= intl=0 id=M2006"
	 "060503484615455 auth= msa=0 ]"},
	{"(from username@localhost) by home.example.com (8.12.11/8.12.11/Submit) id iBADHRP601"
	 "1034; Fri, 10 Dec 2004 13:17:27 GMT",
	 "SKIP"},
	{"(from vashugins@juno.com)  by m06.lax.untd.com (jqueuemail) id LRVB3JAJ; Fri, 02 Jun"
	 " 2006 08:15:21 PDT",
	 "UNPARSEABLE"},
	{"from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google"
	 ".com with SMTPS id a1sor123456qkb.12.2020.03.04.05.06.07 for <user@gmail.com> (Googl"
	 "e Transport Security); Wed, 04 Mar 2020 05:06:07 -0800 (PST)",
	 "[ ip=209.85.220.41 rdns=mail-sor-f41.google.com helo=mail-sor-f41.google.com by=mx.g"
	 "oogle.com ident= envfrom= intl=0 id=a1sor123456qkb.12.2020.03.04.05.06.07 auth= msa="
	 "0 ]"},
	{"from mail.example.com (mail.example.com [203.0.113.5]) by mx.example.net (Postfix) w"
	 "ith ESMTPS id 4Yx1Z2abcd for <bob@example.net>; Tue, 12 Nov 2024 10:00:00 +0000 (UTC"
	 ")",
	 "[ ip=203.0.113.5 rdns=mail.example.com helo=mail.example.com by=mx.example.net ident"
	 "= envfrom= intl=0 id=4Yx1Z2abcd auth= msa=0 ]"},
	{"from helo.example.org (unknown [198.51.100.7]) by mx.example.net (Postfix) with ESMT"
	 "P id ABCDEF123 for <bob@example.net>; Tue, 12 Nov 2024 10:00:00 +0000 (UTC)",
	 "[ ip=198.51.100.7 rdns= helo=helo.example.org by=mx.example.net ident= envfrom= intl"
	 "=0 id=ABCDEF123 auth= msa=0 ] NORDNS"},
	{"from [192.0.2.1] (helo=pc17) by mail.example.de with esmtpsa (TLS1.3) tls TLS_AES_25"
	 "6_GCM_SHA384 (Exim 4.96) (envelope-from <a@example.de>) id 1tABCD-000123-2x for b@ex"
	 "ample.com; Tue, 12 Nov 2024 10:00:00 +0100",
	 "[ ip=192.0.2.1 rdns= helo=pc17 by=mail.example.de ident= envfrom=a@example.de intl=0"
	 " id=1tABCD-000123-2x auth=esmtpsa msa=0 ]"},
	{"from host-5-6-7-8.dyn.example.com ([5.6.7.8]:51234 helo=WIN-ABC123) by mx.example.or"
	 "g with esmtp (Exim 4.96) (envelope-from <spam@example.biz>) id 1tXYZ-0009-AB for vic"
	 "tim@example.org; Tue, 12 Nov 2024 10:00:00 +0000",
	 "[ ip=5.6.7.8 rdns=host-5-6-7-8.dyn.example.com helo=WIN-ABC123 by=mx.example.org ide"
	 "nt= envfrom=spam@example.biz intl=0 id=1tXYZ-0009-AB auth= msa=0 ]"},
	{"from EUR05-AM6-obe.outbound.protection.outlook.com (mail-am6eur05on2070.outbound.pro"
	 "tection.outlook.com [40.107.22.70]) by mx.example.com (Postfix) with ESMTPS id 123AB"
	 "C for <x@example.com>; Tue, 12 Nov 2024 10:00:00 +0000 (UTC)",
	 "[ ip=40.107.22.70 rdns=mail-am6eur05on2070.outbound.protection.outlook.com helo=EUR0"
	 "5-AM6-obe.outbound.protection.outlook.com by=mx.example.com ident= envfrom= intl=0 i"
	 "d=123ABC auth= msa=0 ]"},
	{"from AM0PR02MB1234.eurprd02.prod.outlook.com (2603:10a6:208:1::12) by AM0PR02MB5678."
	 "eurprd02.prod.outlook.com (2603:10a6:208:2::34) with Microsoft SMTP Server (version="
	 "TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7.9; Tue, 12 Nov 2024"
	 " 10:00:00 +0000",
	 "[ ip=2603:10a6:208:1::12 rdns=AM0PR02MB1234.eurprd02.prod.outlook.com helo=AM0PR02MB"
	 "1234.eurprd02.prod.outlook.com by=AM0PR02MB5678.eurprd02.prod.outlook.com ident= env"
	 "from= intl=0 id=15.20.7.9 auth= msa=0 ]"},
	{"from a8-12.smtp-out.amazonses.com (a8-12.smtp-out.amazonses.com. [54.240.8.12]) by m"
	 "x.google.com with ESMTPS id x12si123456qtb.5.2024.11.12.02.00.00 for <x@gmail.com> ("
	 "version=TLS1_2 cipher=ECDHE-ECDSA-AES128-GCM-SHA256 bits=128/128); Tue, 12 Nov 2024 "
	 "02:00:00 -0800 (PST)",
	 "[ ip=54.240.8.12 rdns=a8-12.smtp-out.amazonses.com helo=a8-12.smtp-out.amazonses.com"
	 " by=mx.google.com ident= envfrom= intl=0 id=x12si123456qtb.5.2024.11.12.02.00.00 aut"
	 "h= msa=0 ]"},
	{"from unknown (HELO localhost) (user@127.0.0.1) by mail.example.com with SMTP; 12 Nov"
	 " 2024 10:00:00 -0000",
	 "[ ip=127.0.0.1 rdns= helo=localhost by=mail.example.com ident=user envfrom= intl=0 i"
	 "d= auth= msa=0 ] PRIV"},
	{"from unknown (HELO 123.45.67.89) (123.45.67.89) by mail.example.com with SMTP; 12 No"
	 "v 2024 10:00:00 -0000",
	 "[ ip=123.45.67.89 rdns= helo=123.45.67.89 by=mail.example.com ident= envfrom= intl=0"
	 " id= auth= msa=0 ]"},
	{"from user-pc ([10.1.2.3]) by mail.example.com (rampart) with ESMTP id R1234 for <x@e"
	 "xample.com>; Tue, 12 Nov 2024 10:00:00 +0000",
	 "[ ip=10.1.2.3 rdns= helo=user-pc by=mail.example.com ident= envfrom= intl=0 id=R1234"
	 " auth= msa=0 ] NORDNS PRIV"},
	{"from 1.2.3.4 ([5.6.7.8]) by mail.example.com (rampart) with ESMTPS id R1234; Tue, 12"
	 " Nov 2024 10:00:00 +0000",
	 "[ ip=5.6.7.8 rdns= helo=1.2.3.4 by=mail.example.com ident= envfrom= intl=0 id=R1234 "
	 "auth= msa=0 ] NORDNS"},
	{"from unknown ([5.6.7.8]) by mail.example.com (rampart) with SMTP id R1234; Tue, 12 N"
	 "ov 2024 10:00:00 +0000",
	 "[ ip=5.6.7.8 rdns= helo=unknown by=mail.example.com ident= envfrom= intl=0 id=R1234 "
	 "auth= msa=0 ] NORDNS"},
	{"from mail.example.org (mail.example.org [5.6.7.8]) by mail.example.com (rampart) wit"
	 "h ESMTP id R1; Tue, 12 Nov 2024 10:00:00 +0000",
	 "[ ip=5.6.7.8 rdns=mail.example.org helo=mail.example.org by=mail.example.com ident= "
	 "envfrom= intl=0 id= auth= msa=0 ]"},
	{"from mail.example.org (unknown [5.6.7.8]) by mail.example.com (rampart) with ESMTP i"
	 "d R1; Tue, 12 Nov 2024 10:00:00 +0000",
	 "[ ip=5.6.7.8 rdns= helo=mail.example.org by=mail.example.com ident= envfrom= intl=0 "
	 "id= auth= msa=0 ] NORDNS"},
	{"from [IPv6:2001:db8::1] (helo=foo) by mx.example.org with esmtp (Exim 4.92) id 1ABC",
	 "[ ip=2001:db8::1 rdns= helo=foo by=mx.example.org ident= envfrom= intl=0 id=1ABC aut"
	 "h= msa=0 ]"},
	{"from smtp.example.com (smtp.example.com [IPv6:2001:db8::25]) by mx.example.net (8.15"
	 ".2/8.15.2) with ESMTPS id x1y2z3 for <a@b.c>; Tue, 12 Nov 2024 10:00:00 +0000",
	 "[ ip=2001:db8::25 rdns=smtp.example.com helo=smtp.example.com by=mx.example.net iden"
	 "t= envfrom= intl=0 id=x1y2z3 auth= msa=0 ]"},
	{"from localhost (localhost [127.0.0.1]) by mx.example.net (Postfix) with ESMTP id 123"
	 "4",
	 "[ ip=127.0.0.1 rdns=localhost helo=localhost by=mx.example.net ident= envfrom= intl="
	 "0 id=1234 auth= msa=0 ] PRIV"},
	{"from mx.example.net ([127.0.0.1]) by localhost (mx.example.net [127.0.0.1]) (amavisd"
	 "-new, port 10024) with ESMTP id abcdef for <a@b.c>; Tue, 12 Nov 2024 10:00:00 +0000 "
	 "(UTC)",
	 "[ ip=127.0.0.1 rdns= helo=mx.example.net by=localhost ident= envfrom= intl=0 id=abcd"
	 "ef auth= msa=0 ] NORDNS PRIV"},
	{"by mx.example.net (Postfix, from userid 1000) id 9A8B7C; Tue, 12 Nov 2024 10:00:00 +"
	 "0000 (UTC)",
	 "SKIP"},
	{"from mail.example.com (HELO mail.example.com) (203.0.113.9) by mx.example.org with E"
	 "SMTPS (TLS); 12 Nov 2024 10:00:00 -0000",
	 "[ ip=203.0.113.9 rdns=mail.example.com helo=mail.example.com by=mx.example.org ident"
	 "= envfrom= intl=0 id= auth= msa=0 ]"},
	{"from [203.0.113.44] by mx.example.org (rampart) with SMTP; Tue, 12 Nov 2024 10:00:00"
	 " +0000",
	 "[ ip=203.0.113.44 rdns= helo= by=mx.example.org ident= envfrom= intl=0 id= auth= msa"
	 "=0 ]"},
	{"from ((( [[[ <<< ||| by ))) ]]]",
	 "UNPARSEABLE"},
	{"from ( by",
	 "UNPARSEABLE"},
	{"from [1.2.3.4 by x",
	 "UNPARSEABLE"},
	{"from x (y [1.2.3.4] by z (",
	 "[ ip=1.2.3.4 rdns= helo=x by=z ident= envfrom= intl=0 id= auth= msa=0 ]"},
	{"FROM x (y [1.2.3.4]) BY z ID <abc>",
	 "[ ip=1.2.3.4 rdns=y helo=x by=z ident= envfrom= intl=0 id=abc auth= msa=0 ]"},
	{"(from foo@localhost) by host.example.com (8.12.11/8.12.11/Submit) id iBADHRP6011034",
	 "SKIP"},
};

static void parsed_as(struct relays *rl, const char *hdr, struct buf *out)
{
	struct relay r;
	struct relay_pstate ps = {0};
	int rc = rules_relay_parse(rl, hdr, &r, &ps);
	buf_reset(out);
	if (rc < 0) {
		buf_puts(out, "UNPARSEABLE");
	} else if (rc == 0) {
		buf_puts(out, "SKIP");
	} else {
		rules_relay_string(&r, 0, out);
		if (r.no_rdns)
			buf_puts(out, " NORDNS");
		if (r.priv)
			buf_puts(out, " PRIV");
	}
	buf_putc(out, '\0');
}

static void test_formats(void **state)
{
	(void)state;
	assert_true(rules_relays_ready());
	struct relays *rl = rules_relays_new();
	assert_non_null(rl);
	struct buf b;
	buf_init(&b, 1u << 16);
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		parsed_as(rl, formats[i].hdr, &b);
		if (strcmp(b.data, formats[i].want) != 0)
			fail_msg("%s\n  got  %s\n  want %s", formats[i].hdr, b.data, formats[i].want);
	}
	buf_free(&b);
	rules_relays_free(rl);
}

/* ---- whole messages: trust boundary and pseudo-headers ---- */

#define DATE "Tue, 12 Nov 2024 10:00:01 +0000"
#define BODY "From: lucky@example.biz\r\nTo: you@example.com\r\nSubject: hello\r\n" \
	     "Message-ID: <1@example.biz>\r\nDate: " DATE "\r\n\r\nhello there\r\n"
/* a dynamic host HELOing with another network's IP */
static const char m_dyn[] = "Received: from 198.51.100.50 (dyn-203-0-113-9.pool.example.org [203.0.113.9])\r\n"
			    "\tby mx.example.net (Postfix) with SMTP id 4AbCd; " DATE "\r\n" BODY;
/* no rDNS, HELO not a domain */
static const char m_nordns[] = "Received: from pc17 (unknown [203.0.113.9])\r\n"
			       "\tby mx.example.net (Postfix) with ESMTP id 4AbCe; " DATE "\r\n" BODY;
/* private relays only */
static const char m_internal[] = "Received: from mail.lan (mail.lan [192.168.1.2])\r\n"
				 "\tby mx.lan (Postfix) with ESMTP id A1; " DATE "\r\n"
				 "Received: from laptop (laptop.lan [10.1.2.3])\r\n"
				 "\tby mail.lan (Postfix) with ESMTP id A2; " DATE "\r\n" BODY;
/* a public relay that authenticated */
static const char m_auth[] = "Received: from pc (p5-6-7-8.dsl.example.net [198.51.100.8])\r\n"
			     "\tby smtp.example.de (Postfix) with ESMTPSA id A3; " DATE "\r\n" BODY;
static const char m_none[] = BODY;
static const char m_unparseable[] = "Received: from garbage ((( by\r\n"
				    "Received: from pc17 (unknown [203.0.113.9])\r\n"
				    "\tby mx.example.net (Postfix) with ESMTP id 4AbCe; " DATE "\r\n" BODY;
/* fetchmail: the relays before the marker are dropped */
static const char m_fetch[] = "Received: from localhost (localhost [127.0.0.1])\r\n"
			      "\tby me.lan (Postfix) with ESMTP id B1; " DATE "\r\n"
			      "Received: from pop.isp.example [198.51.100.1]\r\n"
			      "\tby localhost with POP3 (fetchmail-6.4.0) for <me@localhost> (single-drop); " DATE "\r\n"
			      "Received: from mail.isp.example (mail.isp.example [203.0.113.77])\r\n"
			      "\tby pop.isp.example (Postfix) with ESMTP id B2; " DATE "\r\n" BODY;
static const char m_origip[] = "X-Originating-IP: [198.51.100.99]\r\n"
			       "Received: from web1.example.com (web1.example.com [203.0.113.20])\r\n"
			       "\tby mx.example.net (Postfix) with ESMTP id C1; " DATE "\r\n" BODY;
static const char m_trail[] = "Received: from a.one.example (a.one.example [198.51.100.1])\r\n"
			      "\tby mx.me.example (Postfix) with ESMTP id D1; " DATE "\r\n"
			      "Received: from b.two.example (b.two.example [198.51.100.2])\r\n"
			      "\tby c.three.example (Postfix) with ESMTP id D2; " DATE "\r\n"
			      "Received: from d.four.example (d.four.example [198.51.100.3])\r\n"
			      "\tby e.five.example (Postfix) with ESMTP id D3; " DATE "\r\n" BODY;
static const char m_dotcom[] = "Received: from mx.aol.com (unknown [198.51.100.4])\r\n"
			       "\tby mx.example.net (Postfix) with ESMTP id E1; " DATE "\r\n" BODY;
/* rampart's own header (src/smtp/session_data.c) */
static const char m_rampart[] = "Received: from WIN-7 ([198.51.100.30])\r\n"
				"\tby mx.example.com (rampart) with ESMTP id R1a2b3\r\n"
				"\tfor <you@example.com>;\r\n\t" DATE "\r\n" BODY;

#define R_DYN "[ ip=203.0.113.9 rdns=dyn-203-0-113-9.pool.example.org helo=198.51.100.50 " \
	      "by=mx.example.net ident= envfrom= intl=0 id=4AbCd auth= msa=0 ]"
#define R_NORDNS "[ ip=203.0.113.9 rdns= helo=pc17 by=mx.example.net ident= envfrom= intl=0 " \
		 "id=4AbCe auth= msa=0 ]"

/* SpamAssassin's four pseudo-headers for each message. */
static const struct {
	const char *msg, *trusted, *untrusted;
	unsigned unparseable;
} relays_want[] = {
	{m_dyn, "", R_DYN, 0},
	{m_nordns, "", R_NORDNS, 0},
	{m_internal,
	 "[ ip=192.168.1.2 rdns=mail.lan helo=mail.lan by=mx.lan ident= envfrom= intl=1 id= auth= msa=0 ] "
	 "[ ip=10.1.2.3 rdns=laptop.lan helo=laptop by=mail.lan ident= envfrom= intl=1 id= auth= msa=0 ]", "", 0},
	{m_auth, "[ ip=198.51.100.8 rdns=p5-6-7-8.dsl.example.net helo=pc by=smtp.example.de ident= "
		 "envfrom= intl=1 id= auth=ESMTPSA msa=0 ]", "", 0},
	{m_none, "", "", 0},
	{m_unparseable, "", R_NORDNS, 1},
	{m_fetch, "", "[ ip=203.0.113.77 rdns=mail.isp.example helo=mail.isp.example by=pop.isp.example "
		      "ident= envfrom= intl=0 id= auth= msa=0 ]", 0},
	{m_origip, "", "[ ip=203.0.113.20 rdns=web1.example.com helo=web1.example.com by=mx.example.net "
		       "ident= envfrom= intl=0 id= auth= msa=0 ] [ ip=198.51.100.99 rdns= helo= by= ident= "
		       "envfrom= intl=0 id= auth= msa=0 ]", 0},
	{m_rampart, "", "[ ip=198.51.100.30 rdns= helo=WIN-7 by=mx.example.com ident= envfrom= intl=0 "
			"id=R1a2b3 auth= msa=0 ]", 0},
};

static void test_trust(void **state)
{
	(void)state;
	struct relays *rl = rules_relays_new();
	assert_non_null(rl);
	struct buf b;
	buf_init(&b, 1u << 16);
	for (size_t i = 0; i < sizeof relays_want / sizeof relays_want[0]; i++) {
		struct msg_view v;
		struct err e;
		assert_int_equal(msgview_parse(relays_want[i].msg, strlen(relays_want[i].msg), &v, &e), 0);
		rules_relays_analyse(rl, &v);
		/* no trusted_networks: internal is trusted, external untrusted */
		const char *want[4] = {relays_want[i].trusted, relays_want[i].untrusted, relays_want[i].trusted,
				       relays_want[i].untrusted};
		for (int k = 0; k < 4; k++) {
			buf_reset(&b);
			rules_relays_text(rl, (enum relay_set)k, &b);
			buf_putc(&b, '\0');
			if (strcmp(b.data, want[k]) != 0)
				fail_msg("message %zu set %d:\n  got  %s\n  want %s", i, k, b.data, want[k]);
		}
		assert_int_equal(rl->unparseable, relays_want[i].unparseable);
		msgview_free(&v);
	}
	buf_free(&b);
	rules_relays_free(rl);
}

/* ---- rules ---- */

struct t {
	struct ruleset *rs;
	struct rules_scratch *s;
	struct rules_report rep;
	struct rules_result res;
};

static void t_load(struct t *t, const char *path, unsigned flags)
{
	struct rules_source src = {path, flags};
	struct err e = {{0}};
	rules_report_init(&t->rep);
	t->rs = rules_load(&src, 1, &t->rep, &e);
	assert_non_null(t->rs);
	t->s = rules_scratch_new(t->rs, &e);
	assert_non_null(t->s);
}

static void t_match(struct t *t, const char *msg)
{
	struct msg_view v;
	struct err e;
	assert_int_equal(msgview_parse(msg, strlen(msg), &v, &e), 0);
	assert_int_equal(rules_match(t->rs, t->s, &v, NULL, &t->res, &e), 0);
	msgview_free(&v);
}

static void t_free(struct t *t)
{
	rules_scratch_free(t->s);
	rules_unref(t->rs);
	rules_report_free(&t->rep);
}

/* Rules as written in SpamAssassin's stock files (20_dynrdns.cf,
 * 20_head_tests.cf, 20_compensate.cf, 72_active.cf). */
static const char stock_cf[] =
	"header __RDNS_NONE  X-Spam-Relays-External =~ /^[^\\]]+ rdns= /\n"
	"meta RDNS_NONE (__RDNS_NONE)\nscore RDNS_NONE 1.274\n"
	"header __HELO_NO_DOMAIN   X-Spam-Relays-External =~ /^[^\\]]+ helo=[^\\.]+ /\n"
	"header HELO_LOCALHOST   X-Spam-Relays-External =~ /^[^\\]]+ helo=localhost /i\n"
	"meta HELO_NO_DOMAIN __HELO_NO_DOMAIN && !HELO_LOCALHOST\n"
	"header FSL_HELO_NON_FQDN_1     X-Spam-Relays-External =~ /^[^\\]]+ helo=[a-zA-Z0-9-_]+ /i\n"
	"header  __FSL_HELO_BARE_IP_1      X-Spam-Relays-External =~ "
	"/^[^\\]]+ helo=(?!127)\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3} [^\\]]*auth= /i\n"
	"meta    FSL_HELO_BARE_IP_1        __FSL_HELO_BARE_IP_1 && !ALL_TRUSTED\n"
	"header RCVD_HELO_IP_MISMATCH\teval:helo_ip_mismatch()\n"
	"header __HELO_NOT_RDNS\tX-Spam-Relays-External =~ /^[^\\]]+ rdns=(\\S+) helo=(?!(?i)\\1)\\S/\n"
	"meta KHOP_HELO_FCRDNS __HELO_NOT_RDNS\n"
	"header __RDNS_DYNAMIC_IPADDR X-Spam-Relays-External =~ "
	"/^[^\\]]+ rdns=(?![^\\s\\]]+[-.]static[-.])\\S*\\d+[^\\d\\s]\\d+[^\\d\\s]\\d+[^\\d\\s]\\d+\\S*\\.\\S+\\.\\S/i\n"
	"header __LAST_EXTERNAL_RELAY_NO_AUTH X-Spam-Relays-External =~ /^[^\\]]+ auth= /\n"
	"meta RDNS_DYNAMIC (__LAST_EXTERNAL_RELAY_NO_AUTH && __RDNS_DYNAMIC_IPADDR)\n"
	"header RCVD_ILLEGAL_IP\t\tX-Spam-Relays-Untrusted =~ / (?:by|ip)=(?=\\d+\\.\\d+\\.\\d+\\.\\d+ )"
	"(?:(?:0|2(?:2[4-9]|[3-5]\\d)|192\\.0\\.2|198\\.51\\.100|203\\.0\\.113)\\.|(?:\\d+\\.){0,3}"
	"(?!(?:2(?:[0-4]\\d|5[0-5])|[01]?\\d\\d?)\\b))/\n"
	"header ALL_TRUSTED      eval:check_all_trusted()\n"
	"header NO_RELAYS        eval:check_no_relays()\n"
	"header __UNPARSEABLE_RELAY_COUNT        eval:check_relays_unparseable()\n"
	"meta UNPARSEABLE_RELAY (__UNPARSEABLE_RELAY_COUNT >= 1)\n"
	"header NO_RDNS_DOTCOM_HELO\teval:check_for_no_rdns_dotcom_helo()\n"
	"header __FORGED_RCVD_TRAIL\teval:check_for_forged_received_trail()\n"
	"meta FORGED_TRAIL __FORGED_RCVD_TRAIL\n"
	"header INTERNAL_SEEN X-Spam-Relays-Internal =~ /intl=1/\n"
	"header TRUSTED_SEEN X-Spam-Relays-Trusted =~ /\\[ ip=\\S+/\n"
	"header UNTRUSTED_EMPTY X-Spam-Relays-Untrusted !~ /\\[/\n";

/* SpamAssassin 4.0.1 on the same messages and rules. */
static const struct {
	const char *msg;
	const char *hits;
} rules_want[] = {
	{m_dyn, "RDNS_DYNAMIC RCVD_ILLEGAL_IP RCVD_HELO_IP_MISMATCH FSL_HELO_BARE_IP_1 KHOP_HELO_FCRDNS"},
	{m_nordns, "RDNS_NONE RCVD_ILLEGAL_IP FSL_HELO_NON_FQDN_1 HELO_NO_DOMAIN"},
	{m_internal, "ALL_TRUSTED INTERNAL_SEEN TRUSTED_SEEN UNTRUSTED_EMPTY"},
	{m_auth, "ALL_TRUSTED INTERNAL_SEEN TRUSTED_SEEN UNTRUSTED_EMPTY"},
	{m_none, "NO_RELAYS UNTRUSTED_EMPTY"},
	{m_unparseable, "RDNS_NONE RCVD_ILLEGAL_IP FSL_HELO_NON_FQDN_1 HELO_NO_DOMAIN UNPARSEABLE_RELAY"},
	{m_fetch, "RCVD_ILLEGAL_IP"},
	{m_trail, "RCVD_ILLEGAL_IP FORGED_TRAIL"},
	{m_dotcom, "RDNS_NONE RCVD_ILLEGAL_IP NO_RDNS_DOTCOM_HELO"},
};

static const char *const rule_names[] = {
	"RDNS_NONE", "HELO_NO_DOMAIN", "FSL_HELO_NON_FQDN_1", "FSL_HELO_BARE_IP_1", "RCVD_HELO_IP_MISMATCH",
	"KHOP_HELO_FCRDNS", "RDNS_DYNAMIC", "RCVD_ILLEGAL_IP", "ALL_TRUSTED", "NO_RELAYS",
	"UNPARSEABLE_RELAY", "NO_RDNS_DOTCOM_HELO", "FORGED_TRAIL", "INTERNAL_SEEN", "TRUSTED_SEEN",
	"UNTRUSTED_EMPTY",
};

static int listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(list, name); p; p = strstr(p + 1, name))
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

static void test_stock_rules(void **state)
{
	(void)state;
	char path[300];
	snprintf(path, sizeof path, "%s/relays.cf", tmpdir);
	struct err e;
	assert_int_equal(fs_write_atomic(path, stock_cf, strlen(stock_cf), 0644, &e), 0);
	struct t t;
	t_load(&t, path, 0);
	if (t.rep.nerrors)
		fail_msg("%s", t.rep.errors.data);
	assert_int_equal(t.rep.eval_skipped, 0);
	assert_int_equal(t.rep.unsupported, 0);
	for (size_t i = 0; i < sizeof rules_want / sizeof rules_want[0]; i++) {
		t_match(&t, rules_want[i].msg);
		for (size_t k = 0; k < sizeof rule_names / sizeof rule_names[0]; k++) {
			int want = listed(rules_want[i].hits, rule_names[k]);
			if (rules_last_hit(t.rs, t.s, rule_names[k]) != want)
				fail_msg("message %zu: %s %s", i, rule_names[k], want ? "did not hit" : "hit");
		}
	}
	t_free(&t);
}

/* ---- hostile input ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void analyse_text(struct relays *rl, const char *msg, size_t len)
{
	struct msg_view v;
	struct err e;
	assert_int_equal(msgview_parse(msg, len, &v, &e), 0);
	rules_relays_analyse(rl, &v);
	msgview_free(&v);
}

static void test_hostile(void **state)
{
	(void)state;
	struct relays *rl = rules_relays_new();
	assert_non_null(rl);
	struct buf m, b;
	buf_init(&m, 8u << 20);
	buf_init(&b, 1u << 20);
	double t0 = now_s();
	/* 10,000 Received headers: a bounded number is read */
	for (int i = 0; i < 10000; i++)
		buf_printf(&m, "Received: from h%d (h%d.example.org [198.51.100.%d]) by mx%d.example.net "
			   "(Postfix) with ESMTP id Q%d; " DATE "\r\n", i, i, i % 250 + 1, i, i);
	buf_puts(&m, BODY);
	analyse_text(rl, m.data, m.len);
	assert_true(rl->n > 0 && rl->n <= RELAYS_MAX);
	assert_int_equal(rl->ntrusted, 0);
	rules_relays_text(rl, RELAYS_UNTRUSTED, &b);
	assert_true(b.len > 0 && b.len < RELAYS_MAX * 2 * RELAY_FIELD * 8);
	/* one 64 kB header of nested, unbalanced brackets and near-matches */
	static const char *const junk[] = {"(((([[[[<<", "]])) by x (", "[1.2.3.4] (", " helo=", "(HELO ",
					   "::ffff:", "(unknown [", "@[", " by ", ")"};
	buf_reset(&m);
	buf_puts(&m, "Received: from ");
	for (int i = 0; m.len < 64 * 1024; i++)
		buf_puts(&m, junk[i % 10]);
	buf_puts(&m, "\r\n" BODY);
	analyse_text(rl, m.data, m.len);
	assert_true(rl->n + rl->unparseable <= 1);
	/* the same line straight into the parser, uncut by the message parser */
	struct relay r;
	struct relay_pstate ps = {0};
	char *line = malloc(m.len + 1);
	assert_non_null(line);
	memcpy(line, m.data + 10, m.len - 10);
	line[m.len - 10] = '\0';
	assert_true(rules_relay_parse(rl, line, &r, &ps) <= 1);
	free(line);
	/* unbalanced and empty forms */
	static const char *const odd[] = {"from", "from ", "from (", "from [", "from ((( [[[ <<< by )))",
					  "from x (y [1.2.3.4] by z (", "from [IPv6:::] by [", "(from ",
					  "FROM ", "from x ([999.1.1.1]) by y (", "from \t\t by \t ;;;;"};
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		int rc = rules_relay_parse(rl, odd[i], &r, &ps);
		assert_true(rc >= -1 && rc <= 1);
	}
	assert_true(now_s() - t0 < 30.0);
	buf_free(&m);
	buf_free(&b);
	rules_relays_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_trust),
		cmocka_unit_test(test_stock_rules),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
