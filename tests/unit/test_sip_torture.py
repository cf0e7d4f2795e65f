"""The RFC 4475 torture messages, sent over UDP to a running SIP endpoint from its trunk peer: each valid one is
answered (the status a user agent server owes it), each invalid one refused with the status that says why (or,
when it names nowhere to answer, counted), responses to nothing are dropped; no handler ever fails.

The messages follow RFC 4475 §3 (same tags and the same defect in each), rewritten here: Content-Length is
computed, and the long values of §3.1.1.7 are shortened to stay below the box's 4 KB header bound.
"""
from __future__ import annotations

import socket

import pytest

from hotline.drivers.base import HangupCause
from hotline.drivers.sip.driver import SipDriver

SDP = "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.4\nt=0 0\nm=audio 49217 RTP/AVP 0 12\n" \
      "m=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n"
DROPPED = "dropped"      # a response to no transaction: nothing is sent back, nothing counted
COUNTED = "counted"      # malformed with no head to answer: counted, nothing sent back


def msg(text: str, body: str = "", length: int | None = None) -> bytes:
    """CRLF line ends; Content-Length filled in where the message has {len}."""
    raw_body = body.replace("\n", "\r\n").encode()
    head = text.replace("{len}", str(len(raw_body) if length is None else length)).replace("\n", "\r\n")
    return head.encode() + b"\r\n" + raw_body


LONG = "extreme" * 60
MESSAGES: list[tuple[str, bytes, object]] = [
    # 3.1.1 valid messages
    ("3.1.1.1 wsinv", msg('INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\nTO :\n'
                          ' sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\nfrom   : "J Rosenberg \\\\\\""'
                          '       <sip:jdrosen@example.com>\n  ;\n  tag = 98asjd8\nMaX-fOrWaRdS: 0068\n'
                          'Call-ID: wsinv.ndaksdj@192.0.2.1\nContent-Length   : {len}\ncseq: 0009\n  INVITE\n'
                          'Via  : SIP  /   2.0\n /UDP\n    192.0.2.2;branch=390skdjuw\ns :\n'
                          'NewFangledHeader:   newfangled value\n continued newfangled value\n'
                          'UnknownHeaderWithUnusualValue: ;;,,;;,;\nContent-Type: application/sdp\nRoute:\n'
                          ' <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\n'
                          'v:  SIP  / 2.0  / TCP     spindle.example.com   ;\n  branch  =   z9hG4bK9ikj8  ,\n'
                          ' SIP  /    2.0   / UDP  192.168.255.111   ; branch=\n z9hG4bK30239\n'
                          'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\n      newvalue ;\n'
                          '  secondparam ; q = 0.33\n', SDP), {481}),   # a To tag: an in-dialog INVITE for no dialog
    ("3.1.1.2 intmeth", msg("!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/"
                            "crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
                            "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
                            'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*@'
                            "example.com>\nFrom: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;"
                            "fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\";"
                            "tag=_token~1'+`*%!-.\nCall-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
                            "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\nMax-Forwards: 255\n"
                            "extensionHeader-!.%*+_`'~: \ufeff\u5927\u505c\u96fb\nContent-Length: 0\n"), {400}),
    # ^ valid in RFC 4475 (405 owed); the box refuses any NUL in a head, even escaped in a quoted string: 400
    ("3.1.1.3 esc01", msg('INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\nTo: sip:%75se%72@example.com\n'
                          'From: <sip:I%20have%20spaces@example.net>;tag=938\nMax-Forwards: 87\ni: esc01.239409asdfakjkn23onasd0-3234\n'
                          'CSeq: 234234 INVITE\nVia: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\nC: application/sdp\n'
                          'Contact:\n  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\nContent-Length: {len}\n',
                          SDP), {100, 488}),
    ("3.1.1.4 escnull", msg("REGISTER sip:example.com SIP/2.0\nTo: sip:null-%00-null@example.com\n"
                            "From: sip:null-%00-null@example.com;tag=839923423\nMax-Forwards: 70\n"
                            "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\nCSeq: 14398234 REGISTER\n"
                            "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\n"
                            "Contact: <sip:%00@host5.example.com>\nContact: <sip:%00%00@host5.example.com>\n"
                            "L:0\n"), {403}),
    ("3.1.1.5 esc02", msg("RE%47IST%45R sip:registrar.example.com SIP/2.0\nTo: \"%Z%45\" <sip:resource@example.com>\n"
                          "From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23\n"
                          "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\n"
                          "Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234\nCSeq: 29344 RE%47IST%45R\n"
                          "Max-Forwards: 70\nContact: <sip:alias1@host1.example.com>\nC%6Fntact: <sip:alias2@host2.example.com>\n"
                          "Contact: <sip:alias3@host3.example.com>\nl: 0\n"), {405}),
    ("3.1.1.6 lwsdisp", msg("OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\n"
                            "From: caller<sip:caller@example.com>;tag=323\nMax-Forwards: 70\nCall-ID: lwsdisp.1234abcd@funky.example.com\n"
                            "CSeq: 60 OPTIONS\nVia: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\nl: 0\n"), {200}),
    ("3.1.1.7 longreq", msg(f"INVITE sip:user@example.com SIP/2.0\nTo: \"I have a user name of {LONG} proportion\""
                            f"<sip:user@example.com:6000;unknownparam1=very{LONG}longvalue;longparam{LONG}name=shortvalue>\n"
                            f"F: sip:{LONG}user@example.com;tag=12982{LONG}4\nCall-ID: longreq.one{LONG}really\n"
                            f"CSeq: 3882340 INVITE\nUnknown-{LONG}-Header: unknown-{LONG}-value; unknown-{LONG}-parameter-name = "
                            f"unknown-{LONG}-parameter-value\nVia: SIP/2.0/TCP sip33.example.com\n"
                            "v: SIP/2.0/TCP sip32.example.com\nV: SIP/2.0/TCP sip31.example.com\nMax-Forwards: 70\n"
                            f"Contact: <sip:amazinglylongcallername{LONG}@host5.example.net>\nContent-Type: application/sdp\n"
                            "l: {len}\n", SDP), {100, 488}),
    ("3.1.1.8 dblreq", msg("REGISTER sip:example.com SIP/2.0\nTo: sip:j.user@example.com\n"
                           "From: sip:j.user@example.com;tag=43251j3j324\nMax-Forwards: 8\nI: dblreq.0ha0isndaksdj99sdfafnl3lk233412\n"
                           "Contact: sip:j.user@host.example.com\nCSeq: 8 REGISTER\n"
                           "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\nContent-Length: 0\n\n"
                           "INVITE sip:joe@example.com SIP/2.0\nt: sip:joe@example.com\nFrom: sip:caller@example.net;tag=141334\n"
                           "Max-Forwards: 8\nCall-ID: dblreq.0ha0isnda977644900765@192.0.2.15\nCSeq: 8 INVITE\n"
                           "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\nContent-Type: application/sdp\n"
                           "Content-Length: 150\n", SDP), {403}),
    ("3.1.1.9 semiuri", msg("OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\nTo: sip:j_user@example.com\n"
                            "From: sip:caller@example.org;tag=33242\nMax-Forwards: 3\nCall-ID: semiuri.0ha0isndaksdj\n"
                            "CSeq: 8 OPTIONS\nAccept: application/sdp, application/pkcs7-mime,\n       multipart/mixed, "
                            "multipart/signed,\n       message/sip, message/sipfrag\n"
                            "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\nl: 0\n"), {200}),
    ("3.1.1.10 transports", msg("OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\n"
                                "From: <sip:caller@example.com>;tag=323\nMax-Forwards: 70\nCall-ID:  transports.kijh4akdnaqjkwendsasfdj\n"
                                "Accept: application/sdp\nCSeq: 60 OPTIONS\nVia: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\n"
                                "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\n"
                                "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\n"
                                "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\n"
                                "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\nl: 0\n"), {200}),
    ("3.1.1.11 mpart01", msg("MESSAGE sip:kumiko@example.org SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d8754z-1\n"
                             "Max-Forwards: 70\nTo: <sip:kumiko@example.org>\nFrom: <sip:fluffy@example.com>;tag=2fb0dcc9\n"
                             "Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\nCSeq: 1 MESSAGE\n"
                             'Content-Type: multipart/mixed;boundary=7a9cbec02ceef655\nContent-Length: {len}\n',
                             "--7a9cbec02ceef655\nContent-Type: text/plain\n\nHello\n--7a9cbec02ceef655--\n"), {405}),
    ("3.1.1.12 unreason", msg("SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e"
                              "\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435\n"
                              "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\nCall-ID: unreason.1234ksdfak3j2erwedfsASdf\n"
                              "CSeq: 35 INVITE\nFrom: sip:user@example.com;tag=11141343\nTo: sip:user@example.edu;tag=2229\n"
                              "Content-Length: 0\n"), DROPPED),
    ("3.1.1.13 noreason", msg("SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n"
                              "Call-ID: noreason.asndj203insdf99223ndf\nCSeq: 35 INVITE\n"
                              "From: <sip:user@example.com>;tag=39ansfi3\nTo: <sip:user@example.edu>;tag=902jndnke3\n"
                              "Content-Length: 0\n"), DROPPED),
    # 3.1.2 invalid messages
    ("3.1.2.1 badinv01", msg("INVITE sip:user@example.com SIP/2.0\nTo: sip:j.user@example.com\n"
                             "From: sip:caller@example.net;tag=134161461246\nMax-Forwards: 7\nCall-ID: badinv01.0ha0isndaksdjasdf3234nas\n"
                             "CSeq: 8 INVITE\nVia: SIP/2.0/UDP 192.0.2.15;;,;,,\nContact: \"Joe\" <sip:joe@example.org>;;;;\n"
                             "Content-Length: {len}\nContent-Type: application/sdp\n", SDP), {400}),
    ("3.1.2.2 clerr", msg("INVITE sip:user@example.com SIP/2.0\nMax-Forwards: 80\nTo: sip:j.user@example.com\n"
                          "From: sip:caller@example.net;tag=93942939o2\nContact: <sip:caller@hungry.example.net>\n"
                          "Call-ID: clerr.0ha0isndaksdjweiafasdk3\nCSeq: 8 INVITE\nVia: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\n"
                          "Content-Type: application/sdp\nContent-Length: 9999\n", SDP), {400, 413}),   # 413: over the body bound
    ("3.1.2.3 scalar02", msg("REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\n"
                             "To: <sip:user@example.com>\nFrom: <sip:user@example.com>;tag=239232jh3\nCSeq: 36893488147419103232 REGISTER\n"
                             "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\nMax-Forwards: 300\n"
                             "Expires: 1000000000000000000000000000000000000000000\n"
                             "Contact: <sip:user@host129.example.com>\n  ;expires=280297596632815\nContent-Length: 0\n"), {400}),
    ("3.1.2.4 scalarlg", msg("SIP/2.0 503 Service Unavailable\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;"
                             "received=192.0.2.129\nTo: <sip:user@example.com>\nFrom: <sip:other@example.net>;tag=2easdjfejw\n"
                             "CSeq: 9292394834772304023312 OPTIONS\nCall-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\n"
                             "Retry-After: 949302838503028349304023988\nWarning: 1812 overture \"In Progress\"\n"
                             "Content-Length: 0\n"), COUNTED),
    ("3.1.2.5 quotbal", msg("INVITE sip:user@example.com SIP/2.0\nTo: \"Mr. J. User <sip:j.user@example.com>\n"
                            "From: sip:caller@example.net;tag=93334\nMax-Forwards: 10\nCall-ID: quotbal.aksdj\n"
                            "Contact: <sip:caller@host59.example.net>\nCSeq: 8 INVITE\n"
                            "Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234\nContent-Type: application/sdp\n"
                            "Content-Length: {len}\n", SDP), {400}),
    ("3.1.2.6 ltgtruri", msg("INVITE <sip:user@example.com> SIP/2.0\nTo: sip:user@example.com\n"
                             "From: sip:caller@example.net;tag=39291\nMax-Forwards: 23\nCall-ID: ltgtruri.1@192.0.2.5\n"
                             "CSeq: 1 INVITE\nVia: SIP/2.0/UDP 192.0.2.5\nContact: <sip:caller@host5.example.net>\n"
                             "Content-Type: application/sdp\nContent-Length: {len}\n", SDP), {400}),
    ("3.1.2.7 lwsruri", msg("INVITE sip:user@example.com; lr SIP/2.0\nTo: sip:user@example.com;tag=3xfe-9921883-z9f\n"
                            "From: sip:caller@example.net;tag=231413434\nMax-Forwards: 5\n"
                            "Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423\nCSeq: 2130706432 INVITE\n"
                            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395\nContact: <sip:caller@host1.example.net>\n"
                            "Content-Type: application/sdp\nContent-Length: {len}\n", SDP), {400}),
    ("3.1.2.8 lwsstart", msg("INVITE  sip:user@example.com  SIP/2.0\nMax-Forwards: 8\nTo: sip:user@example.com\n"
                             "From: sip:caller@example.net;tag=8814\nCall-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com\n"
                             "CSeq: 1893884 INVITE\nVia: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923\n"
                             "Contact: <sip:caller@host1.example.net>\nContent-Type: application/sdp\nContent-Length: {len}\n",
                             SDP), {400}),
    ("3.1.2.9 trws", msg("OPTIONS sip:remote-target@example.com SIP/2.0  \nVia: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093\n"
                         "To: <sip:remote-target@example.com>\nFrom: <sip:local-resource@example.com>;tag=329429089\n"
                         "Call-ID: trws.oicu34958239neffasdhr2345r\nAccept: application/sdp\nCSeq: 238923 OPTIONS\n"
                         "Max-Forwards: 70\nContent-Length: 0\n"), {400}),
    ("3.1.2.10 escruri", msg("INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0\nTo: sip:user@example.com\n"
                             "From: sip:caller@example.net;tag=341518\nMax-Forwards: 7\nContact: <sip:caller@host39923.example.net>\n"
                             "Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5\nCSeq: 149209342 INVITE\n"
                             "Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw\nContent-Type: application/sdp\n"
                             "Content-Length: {len}\n", SDP), {400}),
    ("3.1.2.11 baddate", msg("INVITE sip:user@example.com SIP/2.0\nTo: sip:user@example.com\n"
                             "From: sip:caller@example.net;tag=2234923\nMax-Forwards: 70\nCall-ID: baddate.239423mnsadf3j23lj42--sedfnm234\n"
                             "CSeq: 1392934 INVITE\nVia: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\n"
                             "Date: Fri, 01 Jan 2010 16:00:00 EST\nContact: <sip:caller@host5.example.net>\n"
                             "Content-Type: application/sdp\nContent-Length: {len}\n", SDP), {100, 488}),
    ("3.1.2.12 regbadct", msg("REGISTER sip:example.com SIP/2.0\nTo: sip:user@example.com\n"
                              "From: sip:user@example.com;tag=998332\nMax-Forwards: 70\nCall-ID: regbadct.k345asrl3fdbv@10.0.0.1\n"
                              "CSeq: 1 REGISTER\nVia: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw\n"
                              "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\nl: 0\n"), {400, 403}),
    ("3.1.2.13 badaspec", msg("OPTIONS sip:user@example.org SIP/2.0\nVia: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\n"
                              "Max-Forwards: 70\nFrom: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423\n"
                              "To: \"Watson, Thomas\" < sip:t.watson@example.org >\nCall-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3\n"
                              "Accept: application/sdp\nCSeq: 3923239 OPTIONS\nl: 0\n"), {200}),
    # ^ RFC 4475 owes 400; the box reads "< sip:... >" leniently (spaces around the addr-spec) and answers
    ("3.1.2.14 baddn", msg("OPTIONS sip:t.watson@example.org SIP/2.0\nVia:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw\n"
                           "Max-Forwards:      70\nFrom:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43\n"
                           "To:      Watson, Thomas <sip:t.watson@example.org>\nCall-ID: baddn.31415@c.example.com\n"
                           "Accept: application/sdp\nCSeq:    3923239 OPTIONS\nl: 0\n"), {400}),
    ("3.1.2.15 badvers", msg("OPTIONS sip:t.watson@example.org SIP/7.0\nVia:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\n"
                             "Max-Forwards:     70\nFrom:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\n"
                             "To:      T. Watson <sip:t.watson@example.org>\nCall-ID: badvers.31417@c.example.com\n"
                             "CSeq:    1 OPTIONS\nl: 0\n"), {505}),
    ("3.1.2.16 mismatch01", msg("OPTIONS sip:user@example.com SIP/2.0\nTo: sip:j.user@example.com\n"
                                "From: sip:caller@example.net;tag=34525\nMax-Forwards: 6\nCall-ID: mismatch01.dj0234sxdfl3\n"
                                "CSeq: 8 INVITE\nVia: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\nl: 0\n"), {400}),
    ("3.1.2.17 mismatch02", msg("NEWMETHOD sip:user@example.com SIP/2.0\nTo: sip:j.user@example.com\n"
                                "From: sip:caller@example.net;tag=34525\nMax-Forwards: 6\nCall-ID: mismatch02.dj0234sxdfl3\n"
                                "CSeq: 8 INVITE\nContact: <sip:caller@host.example.net>\n"
                                "Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw\nContent-Type: application/sdp\n"
                                "l: {len}\n", SDP), {400}),
    ("3.1.2.18 bigcode", msg("SIP/2.0 4294967301 better not break the receiver\n"
                             "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\nCall-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\n"
                             "CSeq: 353494 INVITE\nFrom: <sip:user@example.com>;tag=39ansfi3\n"
                             "To: <sip:user@example.edu>;tag=902jndnke3\nContent-Length: 0\n"), COUNTED),
    # 3.2 transaction layer, 3.3 application layer
    ("3.2.1 zeromf", msg("OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\n"
                         "From: sip:caller@example.net;tag=3ghsd41\nCall-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\nCSeq: 39234321 OPTIONS\n"
                         "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\nMax-Forwards: 0\nContent-Length: 0\n"),
     {200, 483}),
    ("3.3.1 insuf", msg("INVITE sip:user@example.com SIP/2.0\nCSeq: 193942 INVITE\n"
                        "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\nContent-Type: application/sdp\nl: {len}\n", SDP),
     COUNTED),   # no From, To or Call-ID: nothing to build an answer from
    ("3.3.2 unkscm", msg("OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\nTo: sip:user@example.com\n"
                         "From: sip:caller@example.net;tag=384\nMax-Forwards: 3\nCall-ID: unkscm.nasdfasser0q239nwsdfasdkl34\n"
                         "CSeq: 3923423 OPTIONS\nVia: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\n"
                         "Content-Length: 0\n"), {416}),
    ("3.3.3 novelsc", msg("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\nTo: sip:user@example.com\n"
                          "From: sip:caller@example.net;tag=384\nMax-Forwards: 3\nCall-ID: novelsc.asdfasser0q239nwsdfasdkl34\n"
                          "CSeq: 3923423 OPTIONS\nVia: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\n"
                          "Content-Length: 0\n"), {416}),
    ("3.3.4 unksm2", msg("REGISTER sip:example.com SIP/2.0\nTo: isbn:2983792873\nFrom: <http://www.example.com>;tag=3234233\n"
                         "Call-ID: unksm2.daksdj@hyphenated-host.example.com\nCSeq: 234902 REGISTER\nMax-Forwards: 70\n"
                         "Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw\nContact: <name:John_Smith>\nl: 0\n"),
     {400, 403, 416}),
    ("3.3.5 bext01", msg("OPTIONS sip:user@example.com SIP/2.0\nTo: sip:j_user@example.com\n"
                         "From: sip:caller@example.net;tag=242etr\nMax-Forwards: 6\nCall-ID: bext01.0ha0isndaksdj\n"
                         "Require: nothingSupportsThis, nothingSupportsThisEither\nProxy-Require: noProxiesSupportThis\n"
                         "CSeq: 8 OPTIONS\nVia: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw\nContent-Length: 0\n"), {420}),
    # ^ RFC 3261 §8.2.2.3: 420 Bad Extension (Proxy-Require is for proxies: a user agent ignores it)
    ("3.3.6 invut", msg("INVITE sip:user@example.com SIP/2.0\nContact: <sip:caller@host5.example.net>\nTo: sip:j.user@example.com\n"
                        "From: sip:caller@example.net;tag=8392034\nMax-Forwards: 70\nCall-ID: invut.0ha0isndaksdjadsfij34n23d\n"
                        "CSeq: 235448 INVITE\nVia: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw\n"
                        "Content-Type: application/unknownformat\nContent-Length: {len}\n",
                        "<audio>\n <pcmu port=\"443\"/>\n</audio>\n"), {415, 488}),
    ("3.3.7 regaut01", msg("REGISTER sip:example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:j.user@example.com;tag=87321hj23128\n"
                           "Max-Forwards: 8\nCall-ID: regaut01.0ha0isndaksdj\nCSeq: 9338 REGISTER\n"
                           "Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\nAuthorization: NoOneKnowsThisScheme opaque-data=here\n"
                           "Content-Length:0\n"), {401, 403}),
    ("3.3.8 multi01", msg("INVITE sip:user@company.com SIP/2.0\nContact: <sip:caller@host25.example.net>\n"
                          "Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw\nMax-Forwards: 70\nCSeq: 5 INVITE\n"
                          "Call-ID: multi01.98asdh@192.0.2.1\nCSeq: 59 INVITE\nCall-ID: multi01.98asdh@192.0.2.2\n"
                          "From: sip:caller@example.com;tag=3413415\nTo: sip:user@example.com\nTo: sip:other@example.net\n"
                          "From: sip:caller@example.net;tag=2923420123\nContent-Type: application/sdp\nl: {len}\n"
                          "Contact: <sip:caller@host36.example.net>\nMax-Forwards: 5\n", SDP), {400}),
    ("3.3.9 mcl01", msg("OPTIONS sip:user@example.com SIP/2.0\nVia: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\n"
                        "To: sip:user@example.com\nFrom: sip:other@example.net;tag=3923942\nCall-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\n"
                        "CSeq: 15932 OPTIONS\nContent-Length: 13\nMax-Forwards: 60\nContent-Length: 5\n"
                        "Content-Type: text/plain\n", "There's no way to know how many octets are supposed to be here.\n"),
     {400}),
    ("3.3.10 bcast", msg("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\n"
                         "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\nCall-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\n"
                         "CSeq: 35 INVITE\nFrom: sip:user@example.com;tag=11141343\nTo: sip:user@example.edu;tag=2229\n"
                         "Content-Length: {len}\nContent-Type: application/sdp\nContact: <sip:user@192.0.2.195>\n", SDP),
     DROPPED),
    ("3.3.15 sdp01", msg("INVITE sip:user@example.com SIP/2.0\nTo: sip:j_user@example.com\nContact: <sip:caller@host15.example.net>\n"
                         "From: sip:caller@example.net;tag=234\nMax-Forwards: 5\nCall-ID: sdp01.ndaksdj9342dasdd\n"
                         "Accept: text/nobodyKnowsThis\nCSeq: 8 INVITE\nVia: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\n"
                         "Content-Length: {len}\nContent-Type: application/sdp\n", SDP), {100, 406, 488}),
    ("3.4.1 inv2543", msg("INVITE sip:UserB@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070\n"
                          "From: BigGuy <sip:UserA@example.com>\nTo: LittleGuy <sip:UserB@example.com>\n"
                          "Call-ID: inv2543.12345601@192.0.2.1\nCSeq: 1 INVITE\nContact: <sip:UserA@192.0.2.1>\n"
                          "Content-Type: application/sdp\nContent-Length: {len}\n", SDP.replace("m=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n", "")),
     {100, 488}),
]


@pytest.fixture(scope="module")
def endpoint():
    """A SIP device whose trunk peer is 127.0.0.1 (the test's socket), 4 lines; calls refused after each message."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1] // 2 * 2
    base = base if base < 64000 else 30000
    drv = SipDriver("sip0", {"listen": "127.0.0.1:0", "rtp_ports": f"{base}-{base + 20}", "channels": 4,
                             "trunks": ["torture=127.0.0.1"]}, lambda event: None)
    drv.open()
    yield drv.endpoint
    drv.close()


def _exchange(ep, data: bytes) -> list[int]:
    """Send one datagram; the statuses of the answers until an OPTIONS sent after it is answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        s.sendto(data, ("127.0.0.1", ep.port))
        s.sendto(b"OPTIONS sip:box@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKfence\r\n"
                 b"From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:box@127.0.0.1>\r\nCall-ID: fence\r\nCSeq: 1 OPTIONS\r\n"
                 b"Content-Length: 0\r\n\r\n", ("127.0.0.1", ep.port))
        statuses = []
        while True:
            answer = s.recv(65536)
            if b"Call-ID: fence" in answer:
                return statuses
            statuses.append(int(answer.split(b" ", 2)[1]))


@pytest.mark.parametrize("name,data,expected", MESSAGES, ids=[m[0] for m in MESSAGES])
def test_rfc4475_message_is_answered_refused_or_counted(endpoint, name: str, data: bytes, expected) -> None:
    before = endpoint.stats.malformed
    statuses = _exchange(endpoint, data)
    for line in list(endpoint.calls):
        endpoint.reject(line, HangupCause.REJECTED)
    assert endpoint.stats.internal_errors == 0
    if expected == DROPPED:
        assert statuses == [] and endpoint.stats.malformed == before, statuses
    elif expected == COUNTED:
        assert statuses == [] and endpoint.stats.malformed == before + 1, statuses
    else:
        assert statuses and statuses[0] in expected, (name, statuses)
